//! One of every socket-protocol message, with realistic contents, for the round-trip tests and
//! the fuzzers' seed corpus.

use std::net::Ipv4Addr;

use pnrp_shared::ipc::{
    CacheEntryInfo, CloudCounters, CloudInfo, DnsCounters, DnsListener, DnsTransport, ErrorKind,
    IdentityInfo, Protocol, Reachability, Record, Registration, RegistrationInfo, Request,
    Response, ScopedAddr, Source, Status, TraceInfo,
};
use pnrp_shared::PeerName;

/// Every request, with its fields filled.
pub fn requests() -> Vec<Request> {
    messages().0
}

/// Every response, with its fields filled.
pub fn responses() -> Vec<Response> {
    messages().1
}

fn messages() -> (Vec<Request>, Vec<Response>) {
    let name: PeerName = "0.myapp".parse().unwrap();
    let secured: PeerName = format!("{}.printer", "4c".repeat(20)).parse().unwrap();
    let addresses = vec![
        ScopedAddr {
            ip: "fe80::1".parse().unwrap(),
            scope_id: 2,
        },
        ScopedAddr {
            ip: Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped(),
            scope_id: 0,
        },
    ];
    let registration = Registration {
        name: secured.clone(),
        addresses: addresses.clone(),
        port: Some(631),
        protocol: Protocol::Udp,
        comment: Some("lab printer".into()),
        payload: Some(vec![1, 2, 3]),
    };
    let info = RegistrationInfo {
        registration: registration.clone(),
        published: addresses.clone(),
        owner: 1000,
    };
    let identity = IdentityInfo {
        authority: secured.authority().to_string(),
        public_key: [3; 32],
        owner: 1000,
        names: vec![secured.clone()],
    };
    let requests = vec![
        Request::Resolve { name: name.clone() },
        Request::ResolveAddress {
            address: addresses[0],
        },
        Request::Register(registration.clone()),
        Request::Unregister { name: name.clone() },
        Request::List,
        Request::Status,
        Request::Clouds,
        Request::Cache,
        Request::Traceroute { name: name.clone() },
        Request::IdentityCreate {
            secret: Some([7; 32]),
        },
        Request::IdentityList,
        Request::IdentityExport {
            authority: secured.authority().to_string(),
            secret: true,
        },
        Request::IdentityDelete {
            authority: secured.authority().to_string(),
        },
    ];
    let responses = vec![
        Response::Resolved(vec![Record {
            name: name.clone(),
            addresses: addresses.clone(),
            port: Some(80),
            protocol: Protocol::Tcp,
            comment: Some("café".into()),
            payload: Some(vec![0; 16]),
            source: Source::Local,
        }]),
        Response::Resolved(vec![Record {
            name: secured.clone(),
            addresses: addresses.clone(),
            port: None,
            protocol: Protocol::Udp,
            comment: None,
            payload: None,
            source: Source::Cloud {
                cloud: "LinkLocal_eth0".into(),
                publisher: "[fe80::1%2]:3540".into(),
            },
        }]),
        Response::NotFound,
        Response::Names(vec![name.clone(), secured.clone()]),
        Response::Registered(info.clone()),
        Response::Unregistered,
        Response::Registrations(vec![info]),
        Response::Status(Status {
            version: "0.1.0".into(),
            uptime_secs: 42,
            registrations: 1,
            state_dir: "/var/lib/pnrp".into(),
            firewalled_clouds: vec!["Global_".into(), "LinkLocal_eth0".into()],
            dns: vec![
                DnsListener {
                    address: "127.0.0.1:3553".into(),
                    transport: DnsTransport::Udp,
                    counters: DnsCounters {
                        queries: 9,
                        answered: 1,
                        nxdomain: 2,
                        refused: 1,
                        failed: 1,
                        malformed: 1,
                        rate_limited: 1,
                        denied: 1,
                        truncated: 1,
                    },
                },
                DnsListener {
                    address: "[::1]:3553".into(),
                    transport: DnsTransport::Tcp,
                    counters: DnsCounters::default(),
                },
            ],
            seeds: vec!["fd00::1".into(), "seed.example.org:3540".into()],
            log_level: "info".into(),
        }),
        Response::Clouds(vec![
            CloudInfo {
                name: "Global_".into(),
                endpoints: vec!["[fd00::1]:3540".into()],
                cached: 3,
                published: vec![("ab".repeat(32), name.to_string())],
                counters: CloudCounters {
                    sent: 1,
                    received: 2,
                    malformed: 3,
                    bad_cpas: 4,
                    rate_limited: 5,
                    withheld: 6,
                },
                estimated_size: Some(1200),
                reachability: Reachability::Reachable,
            },
            CloudInfo {
                name: "LinkLocal_eth0".into(),
                endpoints: vec!["[fe80::1%2]:3540".into()],
                cached: 0,
                published: Vec::new(),
                counters: CloudCounters::default(),
                estimated_size: None,
                reachability: Reachability::Firewalled,
            },
            CloudInfo {
                name: "LinkLocal_wlan0".into(),
                endpoints: Vec::new(),
                cached: 1,
                published: Vec::new(),
                counters: CloudCounters::default(),
                estimated_size: Some(2),
                reachability: Reachability::Unknown,
            },
        ]),
        Response::Cache(vec![CacheEntryInfo {
            cloud: "Global_".into(),
            id: "cd".repeat(32),
            endpoints: vec!["[fd00::2]:3540".into()],
            age_secs: 7,
        }]),
        Response::Trace(vec![TraceInfo {
            cloud: "Global_".into(),
            hops: vec!["[fd00::2]:3540".into()],
            publishers: vec!["[fd00::3]:3540".into()],
        }]),
        Response::Error {
            kind: ErrorKind::NotOwner,
            message: "0.myapp belongs to uid 1000".into(),
        },
        Response::Identities(vec![identity.clone()]),
        Response::IdentitySecret {
            identity,
            secret: [9; 32],
        },
        Response::IdentityDeleted,
    ];
    (requests, responses)
}
