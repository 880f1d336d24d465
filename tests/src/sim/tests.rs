use super::*;

/// Answers "ping" with "pong" from the port it reached; records what it got, and where.
struct Echo {
    address: SocketAddrV6,
    side: Option<SocketAddrV6>,
    outbox: Vec<Transmit>,
    /// (at, to its side port, from, bytes)
    received: Vec<(Instant, bool, SocketAddrV6, Vec<u8>)>,
    wake: Option<Instant>,
    woke: Vec<Instant>,
}

impl Echo {
    fn got(&self) -> usize {
        self.received.len()
    }
}

impl Host for Echo {
    fn address(&self) -> SocketAddrV6 {
        self.address
    }
    fn side_address(&self) -> Option<SocketAddrV6> {
        self.side
    }
    fn handle_datagram(&mut self, now: Instant, from: SocketAddrV6, bytes: &[u8]) {
        self.received.push((now, false, from, bytes.to_vec()));
        if bytes == b"ping" {
            self.outbox.push(datagram(from, b"pong", false));
        }
    }
    fn handle_side_datagram(&mut self, now: Instant, from: SocketAddrV6, bytes: &[u8]) {
        self.received.push((now, true, from, bytes.to_vec()));
        if bytes == b"ping" {
            self.outbox.push(datagram(from, b"pong", true));
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.woke.push(now);
        self.wake = None;
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        (!self.outbox.is_empty()).then(|| self.outbox.remove(0))
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.wake
    }
}

fn datagram(to: SocketAddrV6, bytes: &[u8], side: bool) -> Transmit {
    Transmit {
        to,
        bytes: bytes.to_vec(),
        side,
    }
}

fn at(index: u16, port: u16) -> SocketAddrV6 {
    format!("[fd00::{index}]:{port}").parse().unwrap()
}

fn echo(index: u16, wake: Option<Instant>) -> Echo {
    Echo {
        address: at(index, 3540),
        side: Some(at(index, 3541)),
        outbox: Vec::new(),
        received: Vec::new(),
        wake,
        woke: Vec::new(),
    }
}

fn send(network: &mut Network<Echo>, from: usize, to: SocketAddrV6, bytes: &[u8], side: bool) {
    network.with_host(from, |host, _| host.outbox.push(datagram(to, bytes, side)));
}

#[test]
fn delivers_fires_timers_and_partitions() {
    let start = Instant::now();
    let mut network = Network::new(1, start, Conditions::default());
    let a = network.add(echo(1, Some(start + Duration::from_secs(1))));
    let b = network.add(echo(2, None));
    let to_b = network.host(b).address();
    send(&mut network, a, to_b, b"ping", false);
    network.run_for(Duration::from_secs(2));
    assert_eq!(network.host(b).got(), 1);
    assert_eq!(network.host(a).got(), 1, "pong came back");
    assert_eq!(network.host(a).woke, [start + Duration::from_secs(1)]);

    network.set_partition(b, 1);
    send(&mut network, a, to_b, b"ping", false);
    network.run_for(Duration::from_secs(1));
    assert_eq!(network.host(b).got(), 1, "partitioned");
    network.set_partition(b, 0);
    network.kill(b);
    send(&mut network, a, to_b, b"ping", false);
    network.run_for(Duration::from_secs(1));
    assert_eq!(network.host(b).got(), 1, "down");
    assert_eq!(network.traffic().dropped, 2);
}

#[test]
fn a_partition_drops_what_arrives_while_it_holds_and_heals() {
    let start = Instant::now();
    let mut network = Network::new(2, start, Conditions::default());
    let hosts: Vec<usize> = (1..=4)
        .map(|index| network.add(echo(index, None)))
        .collect();
    for &host in &hosts[2..] {
        network.set_partition(host, 1);
    }
    let everyone: Vec<SocketAddrV6> = hosts.iter().map(|&h| network.host(h).address()).collect();
    for index in 1..4 {
        send(&mut network, hosts[0], everyone[index], b"hello", false);
        send(&mut network, hosts[3], everyone[index - 1], b"hello", false);
    }
    network.run_for(Duration::from_secs(1));
    let got: Vec<usize> = hosts.iter().map(|&h| network.host(h).got()).collect();
    assert_eq!(got, [0, 1, 1, 0], "each half hears itself only");

    // A datagram sent before the heal that arrives after it is delivered: what counts is the
    // moment it arrives.
    send(&mut network, hosts[0], everyone[3], b"late", false);
    for &host in &hosts {
        network.set_partition(host, 0);
    }
    network.run_for(Duration::from_secs(1));
    assert_eq!(network.host(hosts[3]).got(), 1, "healed");
    // And one in flight when the cut comes is lost.
    send(&mut network, hosts[0], everyone[3], b"cut", false);
    network.set_partition(hosts[3], 1);
    network.run_for(Duration::from_secs(1));
    assert_eq!(network.host(hosts[3]).got(), 1);
}

#[test]
fn side_port_datagrams_leave_from_and_answers_reach_the_side_port() {
    let start = Instant::now();
    let mut network = Network::new(3, start, Conditions::default());
    let a = network.add(echo(1, None));
    let b = network.add(echo(2, None));
    let to_b = network.host(b).address();
    send(&mut network, a, to_b, b"ping", true);
    network.run_for(Duration::from_secs(1));
    let (_, at_side, from, _) = network.host(b).received[0].clone();
    assert!(!at_side, "b got it at its main port");
    assert_eq!(from, at(1, 3541), "from a's side port");
    let (_, at_side, from, bytes) = network.host(a).received[0].clone();
    assert_eq!((at_side, from, bytes), (true, to_b, b"pong".to_vec()));
}

#[test]
fn a_firewall_lets_in_answers_to_what_its_host_sent_and_nothing_else() {
    let start = Instant::now();
    let mut network = Network::new(4, start, Conditions::default());
    let inside = network.add(echo(1, None));
    let peer = network.add(echo(2, None));
    let stranger = network.add(echo(3, None));
    network.set_firewalled(inside, true);
    let (main, side) = (at(1, 3540), at(1, 3541));
    let (peer_main, peer_side) = (at(2, 3540), at(2, 3541));

    // Unsolicited: dropped at both ports.
    send(&mut network, stranger, main, b"hello", false);
    send(&mut network, stranger, main, b"hello", true);
    send(&mut network, peer, side, b"hello", false);
    network.run_for(Duration::from_secs(1));
    assert_eq!(network.host(inside).got(), 0);
    assert_eq!(network.traffic().blocked, 3);

    // An answer to what it sent from its main port comes in.
    send(&mut network, inside, peer_main, b"ping", false);
    network.run_for(Duration::from_secs(1));
    assert_eq!(network.host(inside).got(), 1, "the pong");
    // But only from that remote port: the peer's side port never got anything from us.
    send(&mut network, peer, main, b"hello", true);
    network.run_for(Duration::from_secs(1));
    assert_eq!(network.host(inside).got(), 1);

    // What it sent from its side port opens the side port only: the peer's answer to the side
    // port comes in, a datagram from the same peer to the main port does not.
    send(&mut network, inside, peer_main, b"ping", true);
    network.run_for(Duration::from_secs(1));
    assert_eq!(network.host(inside).got(), 2, "the pong to the side port");
    assert!(network.host(inside).received[1].1);
    network.host_mut(inside).received.clear();
    send(&mut network, inside, peer_side, b"x", true);
    network.run_for(Duration::from_secs(1));
    // The peer now sends from its side port to our main port: we only wrote to it from our
    // side port.
    send(&mut network, peer, main, b"hello", true);
    network.run_for(Duration::from_secs(1));
    assert_eq!(network.host(inside).got(), 0);

    // A pinhole lasts 30 s after the last send through it.
    send(&mut network, inside, peer_main, b"x", false);
    network.run_for(Duration::from_secs(29));
    send(&mut network, peer, main, b"hello", false);
    network.run_for(Duration::from_millis(500));
    assert_eq!(network.host(inside).got(), 1, "still open");
    network.run_for(Duration::from_secs(2));
    send(&mut network, peer, main, b"hello", false);
    network.run_for(Duration::from_millis(500));
    assert_eq!(network.host(inside).got(), 1, "closed after 30 s");

    // Out of the firewall, anything comes in.
    network.set_firewalled(inside, false);
    send(&mut network, stranger, side, b"hello", false);
    network.run_for(Duration::from_secs(1));
    assert_eq!(network.host(inside).got(), 2);
}

#[test]
fn internet_latency_is_what_the_model_says_for_each_pair() {
    let start = Instant::now();
    let conditions = Conditions {
        latency: Latency::Internet,
        loss: 0.0,
    };
    let mut network = Network::new(5, start, conditions);
    let hosts: Vec<usize> = (1..=6)
        .map(|index| network.add(echo(index, None)))
        .collect();
    for &a in &hosts {
        for &b in &hosts {
            if a == b {
                continue;
            }
            let to = network.host(b).address();
            let sent = network.now();
            send(&mut network, a, to, b"ping", false);
            network.run_for(Duration::from_secs(3));
            let one_way = network.one_way(a, b);
            assert_eq!(one_way, network.one_way(b, a), "symmetric");
            let arrived = network.host(b).received.last().unwrap().0;
            assert_eq!(arrived - sent, one_way);
            let back = network.host(a).received.last().unwrap().0;
            assert_eq!(back - sent, 2 * one_way, "the same both ways, every time");
        }
    }
}

#[test]
fn timers_are_filed_once_and_follow_the_host() {
    let start = Instant::now();
    let mut network = Network::new(6, start, Conditions::default());
    let a = network.add(echo(1, Some(start + Duration::from_secs(5))));
    // Brought forward, then pushed back: fires once, when the host wants it.
    network.with_host(a, |host, now| {
        host.wake = Some(now + Duration::from_secs(2))
    });
    network.with_host(a, |host, now| {
        host.wake = Some(now + Duration::from_secs(3))
    });
    network.run_for(Duration::from_secs(10));
    assert_eq!(network.host(a).woke, [start + Duration::from_secs(3)]);
    assert_eq!(network.pending(), 0);
    // A dead host's timer waits for its revival.
    network.with_host(a, |host, now| {
        host.wake = Some(now + Duration::from_secs(1))
    });
    network.kill(a);
    network.run_for(Duration::from_secs(5));
    assert_eq!(network.host(a).woke.len(), 1);
    network.revive(a);
    network.run_for(Duration::from_secs(1));
    assert_eq!(network.host(a).woke.len(), 2);
    network.retire(a);
    assert!(network.get(a).is_none());
}

#[test]
fn records_what_it_delivers_only_while_asked() {
    let start = Instant::now();
    let mut network = Network::new(1, start, Conditions::default());
    let a = network.add(echo(1, None));
    let b = network.add(echo(2, None));
    let (at_a, at_b) = (network.host(a).address(), network.host(b).address());
    send(&mut network, a, at_b, b"ping", false);
    network.run_for(Duration::from_secs(1));
    assert!(network.recorded().is_empty(), "off by default");

    network.record(true);
    send(&mut network, a, at_b, b"ping", false);
    network.run_for(Duration::from_secs(1));
    network.kill(b);
    send(&mut network, a, at_b, b"lost", false);
    network.run_for(Duration::from_secs(1));
    network.record(false);
    network.revive(b);
    send(&mut network, a, at_b, b"ping", false);
    network.run_for(Duration::from_secs(1));
    assert_eq!(
        network.recorded(),
        [
            (at_a, at_b, b"ping".to_vec()),
            (at_b, at_a, b"pong".to_vec())
        ],
        "delivered datagrams while recording, in order; not the dropped one"
    );
}

/// Pings a few others on a timer of its own period, answers pings.
struct Gossip {
    address: SocketAddrV6,
    peers: Vec<SocketAddrV6>,
    period: Duration,
    wake: Instant,
    sent: usize,
    outbox: Vec<Transmit>,
}

impl Host for Gossip {
    fn address(&self) -> SocketAddrV6 {
        self.address
    }
    fn side_address(&self) -> Option<SocketAddrV6> {
        Some(SocketAddrV6::new(*self.address.ip(), 3541, 0, 0))
    }
    fn handle_datagram(&mut self, _now: Instant, from: SocketAddrV6, bytes: &[u8]) {
        if bytes.starts_with(b"ping") {
            self.outbox.push(datagram(from, b"pong", false));
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        let to = self.peers[self.sent % self.peers.len()];
        self.outbox
            .push(datagram(to, b"ping", self.sent.is_multiple_of(3)));
        self.sent += 1;
        self.wake = now + self.period;
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.outbox.pop()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Some(self.wake)
    }
}

#[test]
fn a_run_is_the_same_on_one_thread_or_several() {
    let trace = |threads: usize, latency: Latency| {
        let start = Instant::now();
        let conditions = Conditions { latency, loss: 0.1 };
        let mut network = Network::new(8, start, conditions);
        network.set_threads(threads);
        network.record(true);
        let hosts = 200;
        for index in 0..hosts {
            let peers = (1..4)
                .map(|k| at(((index * 7 + k * 13) % hosts) as u16 + 1, 3540))
                .collect();
            network.add(Gossip {
                address: at(index as u16 + 1, 3540),
                peers,
                period: Duration::from_millis(50 + index as u64 % 17),
                wake: start + Duration::from_millis(index as u64),
                sent: 0,
                outbox: Vec::new(),
            });
            if index % 10 == 0 {
                network.set_firewalled(index, true);
            }
        }
        network.run_for(Duration::from_secs(3));
        (network.traffic(), network.recorded().to_vec())
    };
    for latency in [Latency::default(), Latency::Internet] {
        let one = trace(1, latency.clone());
        assert!(one.0.delivered > 10_000 && one.0.blocked > 0, "{:?}", one.0);
        assert_eq!(
            one,
            trace(3, latency),
            "the same traffic, in the same order"
        );
    }
}
