//! Finding names: `pnrpctl resolve` and `traceroute`, and the queries they take (a peer name or a
//! host name under `pnrp.net`).

use std::fmt;
use std::path::Path;

use pnrp_shared::ipc::{Record, Request, Response, TraceInfo};
use pnrp_shared::{host_name_of, hostname, peer_name_of_host, PeerName};
use serde::Serialize;

use super::output::{self, Output};
use super::request::{Daemon, Failure};

/// A host name if it ends in `.pnrp.net`, else a peer name.
fn parse_query(text: &str) -> Result<PeerName, String> {
    if hostname::is_pnrp_host(text.as_bytes()) {
        peer_name_of_host(text).map_err(|error| error.to_string())
    } else {
        text.parse()
            .map_err(|error: pnrp_shared::PeerNameError| error.to_string())
    }
}

/// `pnrpctl resolve`: prints the records, then saves the first payload to `payload_out`.
pub(super) fn resolve(
    daemon: &Daemon,
    out: Output,
    query: &str,
    payload_out: Option<&Path>,
) -> Result<(), Failure> {
    let name = parse_query(query).map_err(Failure::error)?;
    let records = match daemon.ask(&Request::Resolve { name: name.clone() })? {
        Response::Resolved(records) => records,
        Response::NotFound => return Err(Failure::not_found(format!("{name}: not found"))),
        other => return Err(Failure::unexpected(other)),
    };
    out.print(&Resolved::new(&name, &records));
    if let Some(path) = payload_out {
        let payload = records
            .iter()
            .find_map(|record| record.payload.as_ref())
            .ok_or_else(|| Failure::not_found(format!("{name} has no payload")))?;
        std::fs::write(path, payload)
            .map_err(|error| Failure::error(format!("cannot write {}: {error}", path.display())))?;
    }
    Ok(())
}

/// `pnrpctl traceroute`: prints the hops; not finding a publisher in any cloud is a failure.
pub(super) fn traceroute(daemon: &Daemon, out: Output, query: &str) -> Result<(), Failure> {
    let name = parse_query(query).map_err(Failure::error)?;
    let traces = match daemon.ask(&Request::Traceroute { name: name.clone() })? {
        Response::Trace(traces) => traces,
        other => return Err(Failure::unexpected(other)),
    };
    let found = traces.iter().any(|trace| !trace.publishers.is_empty());
    out.print(&Trace {
        clouds: traces.iter().map(TraceView::new).collect(),
        name: name.to_string(),
    });
    if !found {
        return Err(Failure::not_found(format!(
            "{name}: not found in any cloud"
        )));
    }
    Ok(())
}

/// What `resolve` found.
#[derive(Debug, Serialize)]
struct Resolved {
    host_name: String,
    name: String,
    records: Vec<RecordView>,
}

impl Resolved {
    fn new(name: &PeerName, records: &[Record]) -> Self {
        Resolved {
            host_name: host_name_of(name),
            name: name.to_string(),
            records: records.iter().map(RecordView::new).collect(),
        }
    }
}

impl fmt::Display for Resolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}  ({})", self.name, self.host_name)?;
        for record in &self.records {
            writeln!(f, " from {}", record.source)?;
            output::details(
                f,
                &record.addresses,
                record.port,
                record.protocol,
                record.comment.as_deref(),
            )?;
            if let Some(length) = record.payload_len {
                writeln!(f, "  payload: {length} bytes (--payload-out FILE saves it)")?;
            }
        }
        Ok(())
    }
}

/// One publisher's record.
#[derive(Debug, Serialize)]
struct RecordView {
    addresses: Vec<String>,
    comment: Option<String>,
    payload_hex: Option<String>,
    /// The payload's length (text only).
    #[serde(skip)]
    payload_len: Option<usize>,
    port: Option<u16>,
    protocol: &'static str,
    /// `local`, or `<cloud> via <publisher>`.
    source: String,
}

impl RecordView {
    fn new(record: &Record) -> Self {
        RecordView {
            addresses: record.addresses.iter().map(output::address).collect(),
            comment: record.comment.clone(),
            payload_hex: record.payload.as_deref().map(output::hex),
            payload_len: record.payload.as_ref().map(Vec::len),
            port: record.port,
            protocol: output::protocol_name(record.protocol),
            source: record.source.to_string(),
        }
    }
}

/// What `traceroute` saw.
#[derive(Debug, Serialize)]
struct Trace {
    clouds: Vec<TraceView>,
    name: String,
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.clouds.is_empty() {
            writeln!(f, "no cloud to ask")?;
        }
        for trace in &self.clouds {
            writeln!(f, "{} in {}:", self.name, trace.cloud)?;
            for (index, hop) in trace.hops.iter().enumerate() {
                let mark = if trace.publishers.contains(hop) {
                    "  publisher"
                } else {
                    ""
                };
                writeln!(f, "  {:2}  {hop}{mark}", index + 1)?;
            }
            if trace.publishers.is_empty() {
                writeln!(f, "  not found")?;
            }
        }
        Ok(())
    }
}

/// The way through one cloud.
#[derive(Debug, Serialize)]
struct TraceView {
    cloud: String,
    /// The nodes asked, in order, each once (the publisher is asked twice at least: the
    /// LOOKUP that found it, then the INQUIRE for its record).
    hops: Vec<String>,
    /// Those of them that publish the name.
    publishers: Vec<String>,
}

impl TraceView {
    fn new(trace: &TraceInfo) -> Self {
        let mut hops: Vec<String> = Vec::with_capacity(trace.hops.len());
        for hop in &trace.hops {
            if !hops.contains(hop) {
                hops.push(hop.clone());
            }
        }
        TraceView {
            cloud: trace.cloud.clone(),
            hops,
            publishers: trace.publishers.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_prefer_host_names() {
        assert_eq!(
            parse_query("0.myapp.pnrp.net").unwrap().to_string(),
            "0.myapp"
        );
        assert_eq!(parse_query("0.myapp").unwrap().to_string(), "0.myapp");
        assert!(parse_query("nope").is_err());
    }

    #[test]
    fn traceroute_lists_each_node_once() {
        let publisher = "[fd70::a]:3540".to_owned();
        let other = "[fd70::c]:3540".to_owned();
        let trace = Trace {
            name: "0.myapp".into(),
            clouds: vec![TraceView::new(&TraceInfo {
                cloud: "Global_".into(),
                hops: vec![other.clone(), publisher.clone(), publisher.clone()],
                publishers: vec![publisher.clone()],
            })],
        };
        let shown = trace.to_string();
        assert_eq!(shown.matches("publisher").count(), 1, "{shown}");
        assert_eq!(
            shown,
            "0.myapp in Global_:\n   1  [fd70::c]:3540\n   2  [fd70::a]:3540  publisher\n"
        );
    }
}
