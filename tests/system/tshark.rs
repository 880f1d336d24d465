//! Outside referee: Wireshark's PNRP dissector must decode every message type we send.
//!
//! Two captures. The sample messages (`pnrp_tests::samples::wire`) — every message type, most
//! with every optional field, and an AUTHORITY whose buffer (signed Ed25519 CPA, extended
//! payload, classifier, route entry, certificate chain) is split into fragments — on IPv6 `::1`,
//! UDP 3540 → 3540. And every datagram of a small cloud run on the simulated network
//! (`pnrp_tests::sim`): the real node code joining, publishing, revoking and resolving, with
//! each datagram's own source and destination. Each is written as a pcap (Ethernet, IPv6, UDP,
//! real checksums; nothing is sent or captured) and read with `tshark -V`.
//!
//! Debian 12's tshark 4.0 marks every PNRP packet "Malformed" after its first field (an inverted
//! loop check in `dissect_pnrp`), so the referee is Debian's own dissector source with that check
//! fixed, built as the plugin "pnrpfixed" by `tools/wireshark/build-referee.sh`, and the built-in
//! `pnrp` is disabled (docs/PROTOCOL.md, "Wireshark as referee"). Never skips: without tshark,
//! libwireshark-dev or Debian's source the test fails with what to install.
//! `PNRP_KEEP_PCAP=1` keeps the pcap and prints where it is.

use std::collections::BTreeMap;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pnrp_proto::cloud::{CloudEvent, Found, Publication};
use pnrp_proto::wire::{AppEndpoint, Message, Packet};
use pnrp_tests::samples::wire::packets;
use pnrp_tests::scenario::{small_cloud_node, SimNode};
use pnrp_tests::sim::{Conditions, Network};

/// The Acked Message ID a message carries in PNRP_HEADER_ACKED, if any.
fn acked_message_id(message: &Message) -> Option<u32> {
    match message {
        Message::Advertise(advertise) => Some(advertise.acked_message_id),
        Message::Ack(ack) => Some(ack.acked_message_id),
        Message::Authority(authority) => Some(authority.acked_message_id()),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// The capture

/// One UDP datagram: source, destination, payload.
type Datagram = (SocketAddrV6, SocketAddrV6, Vec<u8>);

/// `payloads` as datagrams on IPv6 loopback, UDP 3540 → 3540.
fn on_loopback(payloads: &[Vec<u8>]) -> Vec<Datagram> {
    let loopback = SocketAddrV6::new(Ipv6Addr::LOCALHOST, 3540, 0, 0);
    payloads
        .iter()
        .map(|payload| (loopback, loopback, payload.clone()))
        .collect()
}

/// A classic pcap of `datagrams`, each wrapped in Ethernet, IPv6 and UDP with its own addresses
/// and ports, one second apart.
fn pcap(datagrams: &[Datagram]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(0xa1b2_c3d4u32.to_le_bytes());
    out.extend(2u16.to_le_bytes());
    out.extend(4u16.to_le_bytes());
    out.extend([0u8; 8]); // thiszone, sigfigs
    out.extend(65_535u32.to_le_bytes());
    out.extend(1u32.to_le_bytes()); // LINKTYPE_ETHERNET
    for (index, (from, to, payload)) in datagrams.iter().enumerate() {
        let udp_len = u16::try_from(8 + payload.len()).unwrap();
        let mut udp = Vec::new();
        udp.extend(from.port().to_be_bytes());
        udp.extend(to.port().to_be_bytes());
        udp.extend(udp_len.to_be_bytes());
        udp.extend([0, 0]);
        udp.extend(payload);
        // RFC 8200 §8.1 pseudo-header checksum.
        let mut sum: u32 = 0;
        let mut add = |bytes: &[u8]| {
            for pair in bytes.chunks(2) {
                sum += u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]));
            }
        };
        add(&from.ip().octets());
        add(&to.ip().octets());
        add(&u32::from(udp_len).to_be_bytes());
        add(&[0, 0, 0, 17]);
        add(&udp);
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        let checksum = match !(sum as u16) {
            0 => 0xffff,
            value => value,
        };
        udp[6..8].copy_from_slice(&checksum.to_be_bytes());

        let mut frame = Vec::new();
        frame.extend([0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0x86, 0xdd]);
        frame.extend([0x60, 0, 0, 0]);
        frame.extend(udp_len.to_be_bytes());
        frame.extend([17, 64]);
        frame.extend(from.ip().octets());
        frame.extend(to.ip().octets());
        frame.extend(udp);

        let frame_len = u32::try_from(frame.len()).unwrap();
        out.extend((1_735_689_600 + index as u32).to_le_bytes());
        out.extend(0u32.to_le_bytes());
        out.extend(frame_len.to_le_bytes());
        out.extend(frame_len.to_le_bytes());
        out.extend(frame);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The referee

/// tshark with the fixed dissector plugin, in a scratch directory of its own.
struct Referee {
    dir: PathBuf,
}

impl Referee {
    /// Builds (or finds cached) the plugin and lays out a scratch directory that tshark may read
    /// even when it runs as `nobody`: tshark ignores WIRESHARK_PLUGIN_DIR and personal plugins
    /// when its real user is root, so as root it is run through `setpriv` as 65534. Checks that
    /// tshark loads the plugin.
    fn new() -> Referee {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let script = root.join("tools/wireshark/build-referee.sh");
        let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wireshark-referee");
        let output = Command::new("bash")
            .arg(&script)
            .arg(&cache)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let log = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "building the Wireshark referee failed ({}); see tools/wireshark/build-referee.sh \
             and README.md's Dependencies:\n{log}",
            output.status
        );
        let plugins = PathBuf::from(String::from_utf8(output.stdout).unwrap().trim());
        let plugin = plugins.join("4.0/epan/pnrpfixed.so");
        assert!(plugin.is_file(), "no {}:\n{log}", plugin.display());

        let dir = std::env::temp_dir().join(format!(
            "pnrp-tshark-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let epan = dir.join("plugins/4.0/epan");
        std::fs::create_dir_all(&epan).unwrap();
        std::fs::create_dir_all(dir.join("config")).unwrap();
        std::fs::copy(&plugin, epan.join("pnrpfixed.so")).unwrap();
        for path in [
            dir.clone(),
            dir.join("plugins"),
            dir.join("plugins/4.0"),
            epan.clone(),
            dir.join("config"),
        ] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::set_permissions(
            epan.join("pnrpfixed.so"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let referee = Referee { dir };
        let protocols = referee.run(&["-G", "protocols"]);
        assert!(
            protocols.lines().any(|line| line.ends_with("\tpnrpfixed")),
            "tshark did not load the referee plugin pnrpfixed.so (tshark -G plugins):\n{}",
            referee.run(&["-G", "plugins"])
        );
        referee
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        path
    }

    /// `tshark -n --disable-protocol pnrp ARGS`: the referee reading a capture.
    fn tshark(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", "--disable-protocol", "pnrp"];
        all.extend(args);
        self.run(&all)
    }

    /// `tshark ARGS` with the plugin directory and no user preferences; its stdout.
    fn run(&self, args: &[&str]) -> String {
        let as_root = std::fs::metadata("/proc/self").map(|m| m.uid()).ok() == Some(0);
        let mut command = if as_root {
            let mut command = Command::new("setpriv");
            command.args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--",
                "tshark",
            ]);
            command
        } else {
            Command::new("tshark")
        };
        command
            .current_dir(&self.dir)
            .env("HOME", &self.dir)
            .env("WIRESHARK_CONFIG_DIR", self.dir.join("config"))
            .env("WIRESHARK_PLUGIN_DIR", self.dir.join("plugins"))
            .args(args);
        let output = command.output().unwrap_or_else(|e| {
            panic!("cannot run {command:?}: {e} (apt-get install tshark util-linux)")
        });
        assert!(
            output.status.success(),
            "{command:?} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for Referee {
    fn drop(&mut self) {
        if std::env::var_os("PNRP_KEEP_PCAP").is_some() {
            eprintln!("referee files kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

// ---------------------------------------------------------------------------------------------

/// The errors and warnings of `tshark -z expert`'s summary, empty if none.
fn expert_summary(output: &str) -> &str {
    ["\nErrors (", "\nWarnings ("]
        .iter()
        .filter_map(|heading| output.find(heading))
        .min()
        .map_or("", |start| &output[start..])
}

/// Writes `datagrams` to the pcap `name` and has the referee read it. Asserts that every frame
/// is PNRP with the addresses, ports, message type, message ID and acked message ID it was sent
/// with, and that tshark finds nothing malformed and no warning or error. Returns `tshark -V`'s
/// output and the decoded packets.
fn judge(referee: &Referee, name: &str, datagrams: &[Datagram]) -> (String, Vec<Packet>) {
    let packets: Vec<Packet> = datagrams
        .iter()
        .zip(1..)
        .map(|((_, _, payload), number)| {
            Packet::decode(payload).unwrap_or_else(|e| panic!("datagram {number}: {e:?}"))
        })
        .collect();
    let pcap = referee.write(name, &pcap(datagrams));
    let pcap = pcap.to_str().unwrap();

    // `-z expert` counts only what a dissection with a tree finds: with `-V` it gets one.
    let verbose = referee.tshark(&["-r", pcap, "-V", "-z", "expert,note"]);
    let mut args = vec!["-r", pcap, "-T", "fields", "-E", "separator=|"];
    for field in [
        "frame.number",
        "frame.protocols",
        "ipv6.src",
        "udp.srcport",
        "ipv6.dst",
        "udp.dstport",
        "pnrp.messageType",
        "pnrp.header.messageID",
        "pnrp.segment.headerAck",
        "_ws.col.Info",
    ] {
        args.extend(["-e", field]);
    }
    let fields = referee.tshark(&args);

    for bad in [
        "Malformed",
        "Dissector bug",
        "[Expert Info (Error",
        "[Expert Info (Warning",
        "invalid length",
        "Unknown (0x",
    ] {
        assert!(
            !verbose.contains(bad),
            "{name}: tshark reports {bad:?}:\n{verbose}"
        );
    }
    assert_eq!(
        expert_summary(&verbose),
        "",
        "{name}: tshark's expert infos"
    );

    let lines: Vec<&str> = fields.lines().collect();
    assert_eq!(
        lines.len(),
        packets.len(),
        "{name}: one frame per datagram:\n{fields}"
    );
    for (((line, packet), (from, to, _)), number) in
        lines.iter().zip(&packets).zip(datagrams).zip(1..)
    {
        let columns: Vec<&str> = line.split('|').collect();
        let message_type = packet.message.message_type();
        let expected = [
            number.to_string(),
            "eth:ethertype:ipv6:udp:pnrpfixed".to_owned(),
            from.ip().to_string(),
            from.port().to_string(),
            to.ip().to_string(),
            to.port().to_string(),
            (message_type as u8).to_string(),
            format!("0x{:08x}", packet.message_id),
            acked_message_id(&packet.message).map_or(String::new(), |id| format!("0x{id:08x}")),
        ];
        assert_eq!(
            columns[..expected.len()],
            expected,
            "{name}: frame {number} (number, protocols, source, destination, type, ID, acked ID)"
        );
        let info = format!(
            "PNRP {} Message",
            format!("{message_type:?}").to_uppercase()
        );
        assert!(
            columns[expected.len()].starts_with(&info),
            "{name}: frame {number}: {line}"
        );
    }
    (verbose, packets)
}

#[test]
fn wireshark_decodes_every_message_type_we_send() {
    let referee = Referee::new();

    // The referee can fail: a ROUTING_ENTRY whose Length runs past the datagram is malformed.
    let mut broken = packets()[0].encode();
    let at = (12..broken.len())
        .step_by(2)
        .find(|&i| broken[i..i + 2] == [0x00, 0x9a])
        .unwrap();
    broken[at + 3] += 40;
    let broken = referee.write("broken.pcap", &pcap(&on_loopback(&[broken])));
    let verbose = referee.tshark(&["-r", broken.to_str().unwrap(), "-V", "-z", "expert,note"]);
    assert!(
        verbose.contains("[Malformed Packet: PNRP (fixed)]")
            && expert_summary(&verbose).contains("Malformed"),
        "the referee does not flag a broken datagram:\n{verbose}"
    );

    let packets = packets();
    let mut types: Vec<u8> = packets
        .iter()
        .map(|p| p.message.message_type() as u8)
        .collect();
    types.sort_unstable();
    types.dedup();
    assert_eq!(
        types,
        [1, 2, 3, 4, 7, 8, 9, 11],
        "every message type is sent"
    );
    let datagrams: Vec<Vec<u8>> = packets.iter().map(Packet::encode).collect();
    let fragments = packets
        .iter()
        .filter(|p| p.message_id == 17 && matches!(p.message, Message::Authority(_)))
        .count();
    assert!(fragments >= 3, "the large AUTHORITY is fragmented");
    let first_fragment = packets.len() - fragments + 1;
    let authority_size = match &packets.last().unwrap().message {
        Message::Authority(authority) => authority.size(),
        other => panic!("{other:?}"),
    };
    let (verbose, decoded) = judge(&referee, "traffic.pcap", &on_loopback(&datagrams));
    assert_eq!(decoded, packets, "what we decode is what we built");

    // What Wireshark shows of the fields we wrote: the CPA down to its signature, the
    // reassembled AUTHORITY buffer whole.
    for expected in [
        "Validate CPA",
        "Signature Structure",
        "1.3.101.112",
        "Classifier: printer",
        "CERT Chain",
        "Extended Payload",
        &format!("[{fragments} Fragments ({authority_size} bytes): #{first_fragment}(1188), "),
        &format!("[Reassembled Length: {authority_size}]"),
    ] {
        assert!(
            verbose.contains(expected),
            "tshark -V shows no {expected:?}:\n{verbose}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// A simulated run

fn sim_address(index: usize) -> SocketAddrV6 {
    SocketAddrV6::new(
        Ipv6Addr::new(0xfd00, 0, 0, 0x20, 0, 0, 0, index as u16),
        3540,
        0,
        0,
    )
}

fn sim_publication(name: &str, index: usize, comment: &str) -> Publication {
    Publication {
        name: name.parse().unwrap(),
        app_endpoints: vec![AppEndpoint {
            address: *sim_address(index).ip(),
            port: 80,
            protocol: 6,
        }],
        comment: Some(comment.to_owned()),
        payload: None,
        identity: None,
    }
}

/// The answer to resolve `query`, once the network has run.
fn resolved(network: &mut Network<SimNode>, asker: usize, query: u64) -> Vec<Found> {
    while let Some(CloudEvent::Resolved {
        query: answered,
        found,
        ..
    }) = network.host_mut(asker).cloud.poll_event()
    {
        if answered == query {
            return found;
        }
    }
    panic!("node {asker}: no answer to resolve {query}");
}

/// Every datagram delivered in a small cloud: 8 nodes joining through node 0, three publishing
/// (`0.shared` on two of them), lookups before and after one revokes its name, and maintenance.
fn simulated_run() -> Vec<Datagram> {
    let start = Instant::now();
    let mut network = Network::new(7, start, Conditions::default());
    network.record(true);
    for index in 0..8 {
        network.add(small_cloud_node(
            index,
            sim_address(index),
            sim_address(0),
            start,
        ));
        network.run_for(Duration::from_millis(100));
    }
    network.run_for(Duration::from_secs(5));

    // The comment of the name revoked later gives its revoke CPA a length that is a multiple of
    // 4: Wireshark skips no Padding3 after REVOKE_CPA (docs/PROTOCOL.md), so another length
    // would make it misparse the rest of the FLOOD.
    for (index, name, comment) in [
        (2, "0.printer", "hall printer #2"),
        (4, "0.shared", "node 4"),
        (6, "0.shared", "node 6"),
    ] {
        network.with_host(index, |node, now| {
            node.cloud
                .register(now, sim_publication(name, index, comment))
        });
    }
    // Two maintenance periods: a node that joined before there was any name to learn (node 1)
    // has an empty cache until its maintenance joins again.
    network.run_for(Duration::from_secs(30));
    for (asker, query, name) in [(1, 1, "0.shared"), (7, 2, "0.printer")] {
        network.with_host(asker, |node, now| {
            node.cloud.resolve(now, &name.parse().unwrap(), query)
        });
    }
    network.run_for(Duration::from_secs(10));
    let mut shared: Vec<Ipv6Addr> = resolved(&mut network, 1, 1)
        .iter()
        .map(|found| found.app_endpoints[0].address)
        .collect();
    shared.sort();
    assert_eq!(shared, [*sim_address(4).ip(), *sim_address(6).ip()]);
    assert_eq!(resolved(&mut network, 7, 2).len(), 1, "0.printer found");

    network.with_host(2, |node, now| {
        node.cloud.unregister(now, &"0.printer".parse().unwrap())
    });
    network.run_for(Duration::from_secs(5));
    network.with_host(5, |node, now| {
        node.cloud.resolve(now, &"0.printer".parse().unwrap(), 3)
    });
    // Maintenance: two periods.
    network.run_for(Duration::from_secs(30));
    assert_eq!(resolved(&mut network, 5, 3), [], "0.printer revoked");
    network.recorded().to_vec()
}

#[test]
fn tshark_decodes_a_simulated_cloud_run() {
    let referee = Referee::new();
    let datagrams = simulated_run();
    let revokes: Vec<usize> = datagrams
        .iter()
        .filter_map(
            |(_, _, payload)| match Packet::decode(payload).ok()?.message {
                Message::Flood(flood) => flood.revoke_cpa.map(|cpa| cpa.as_bytes().len()),
                _ => None,
            },
        )
        .collect();
    assert!(!revokes.is_empty(), "the run flooded a revoke CPA");
    assert!(
        revokes.iter().all(|len| len % 4 == 0),
        "revoke CPAs of {revokes:?} bytes: Wireshark would misparse what follows them (no \
         Padding3); change the revoked publication's comment"
    );
    let (_, packets) = judge(&referee, "simulated.pcap", &datagrams);

    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for packet in &packets {
        *counts
            .entry(format!("{:?}", packet.message.message_type()).to_uppercase())
            .or_default() += 1;
    }
    eprintln!("{} datagrams: {counts:?}", packets.len());
    for name in [
        "SOLICIT",
        "ADVERTISE",
        "REQUEST",
        "FLOOD",
        "INQUIRE",
        "AUTHORITY",
        "ACK",
        "LOOKUP",
    ] {
        assert!(
            counts.contains_key(name),
            "the run sent no {name}: {counts:?}"
        );
    }
}
