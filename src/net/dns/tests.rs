//! RFC 3263 selection over a table of records, no network.

use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Records by name, each answer with the same TTL; counts queries.
#[derive(Default)]
struct Table {
    naptr: HashMap<String, Vec<Naptr>>,
    srv: HashMap<String, Vec<Srv>>,
    ips: HashMap<String, Vec<IpAddr>>,
    ttl: Duration,
    queries: AtomicUsize,
}

impl Table {
    fn answer<T: Clone>(&self, map: &HashMap<String, Vec<T>>, name: &str) -> Result<Answer<T>> {
        self.queries.fetch_add(1, Ordering::SeqCst);
        Ok(match map.get(name) {
            Some(r) => Answer {
                records: r.clone(),
                ttl: self.ttl,
            },
            None => Answer::none(),
        })
    }
}

impl RecordSource for Table {
    async fn naptr(&self, name: &str) -> Result<Answer<Naptr>> {
        self.answer(&self.naptr, name)
    }
    async fn srv(&self, name: &str) -> Result<Answer<Srv>> {
        self.answer(&self.srv, name)
    }
    async fn ips(&self, name: &str) -> Result<Answer<IpAddr>> {
        self.answer(&self.ips, name)
    }
}

fn naptr(order: u16, preference: u16, service: &str, replacement: &str) -> Naptr {
    Naptr {
        order,
        preference,
        flags: "S".into(),
        service: service.into(),
        replacement: replacement.into(),
    }
}

fn srv(priority: u16, weight: u16, port: u16, target: &str) -> Srv {
    Srv {
        priority,
        weight,
        port,
        target: target.into(),
    }
}

fn ip(last: u8) -> IpAddr {
    IpAddr::from([192, 0, 2, last])
}

/// example.com: NAPTR prefers TLS, then TCP, then UDP; each SRV name has a
/// server at priority 10 and a backup at 20; hosts a..f.
fn provider() -> Table {
    let mut t = Table {
        ttl: Duration::from_secs(300),
        ..Default::default()
    };
    t.naptr.insert(
        "example.com".into(),
        vec![
            naptr(20, 10, "SIP+D2U", "_sip._udp.example.com."),
            naptr(10, 20, "SIP+D2T", "_sip._tcp.example.com."),
            naptr(10, 10, "SIPS+D2T", "_sips._tcp.example.com."),
            naptr(5, 10, "E2U+sip", "!^.*$!sip:x@example.com!"),
        ],
    );
    for (name, main, backup) in [
        ("_sips._tcp.example.com", "a.example.com.", "b.example.com."),
        ("_sip._tcp.example.com", "c.example.com.", "d.example.com."),
        ("_sip._udp.example.com", "e.example.com.", "f.example.com."),
    ] {
        t.srv.insert(
            name.into(),
            vec![srv(20, 0, 5070, backup), srv(10, 0, 5061, main)],
        );
    }
    for (i, h) in ["a", "b", "c", "d", "e", "f"].iter().enumerate() {
        t.ips
            .insert(format!("{h}.example.com"), vec![ip(i as u8 + 1)]);
    }
    t.ips.insert("example.com".into(), vec![ip(100)]);
    t
}

fn query(host: &str) -> Query<'_> {
    Query {
        host,
        port: None,
        transport: None,
        secure: false,
    }
}

fn locate(t: Table, q: Query<'_>) -> Result<Vec<Destination>> {
    let l = Locator::with_source(t, 7);
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(l.locate(q))
}

fn dest(transport: Transport, last: u8, port: u16) -> Destination {
    Destination {
        transport,
        addr: SocketAddr::new(ip(last), port),
    }
}

#[test]
fn naptr_order_and_preference_pick_the_transport_and_srv_priority_the_order() {
    let found = locate(provider(), query("example.com")).unwrap();
    let tls = Transport::Tls(None);
    assert_eq!(found, vec![dest(tls, 1, 5061), dest(tls, 2, 5070)]);
}

#[test]
fn a_sips_uri_takes_only_tls_and_a_transport_skips_naptr() {
    let mut t = provider();
    // Without SIPS+D2T, a sips: URI finds nothing in NAPTR: SRV _sips._tcp.
    t.naptr
        .get_mut("example.com")
        .unwrap()
        .retain(|n| n.service != "SIPS+D2T");
    let secure = Query {
        secure: true,
        ..query("example.com")
    };
    let found = locate(t, secure).unwrap();
    assert_eq!(found[0], dest(Transport::Tls(None), 1, 5061));
    let udp = Query {
        transport: Some(Transport::Udp),
        ..query("example.com")
    };
    let found = locate(provider(), udp).unwrap();
    assert_eq!(
        found,
        vec![dest(Transport::Udp, 5, 5061), dest(Transport::Udp, 6, 5070)]
    );
}

#[test]
fn an_ip_literal_or_an_explicit_port_skips_naptr_and_srv() {
    let t = provider();
    let l = Locator::with_source(t, 1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let literal = rt
        .block_on(l.locate(Query {
            secure: true,
            ..query("[2001:db8::1]")
        }))
        .unwrap();
    assert_eq!(literal.len(), 1);
    assert_eq!(literal[0].addr, "[2001:db8::1]:5061".parse().unwrap());
    assert_eq!(literal[0].transport, Transport::Tls(None));
    assert_eq!(
        l.source.queries.load(Ordering::SeqCst),
        0,
        "no DNS for a literal"
    );
    let explicit = rt
        .block_on(l.locate(Query {
            port: Some(5999),
            ..query("example.com")
        }))
        .unwrap();
    assert_eq!(explicit, vec![dest(Transport::Udp, 100, 5999)]);
    assert_eq!(l.source.queries.load(Ordering::SeqCst), 1, "only A/AAAA");
}

#[test]
fn without_naptr_srv_is_asked_per_transport_and_without_srv_the_host_itself() {
    let mut t = provider();
    t.naptr.clear();
    // _sip._udp first (the RFC's default transport).
    let found = locate(t, query("example.com")).unwrap();
    assert_eq!(found[0], dest(Transport::Udp, 5, 5061));
    let mut bare = provider();
    bare.naptr.clear();
    bare.srv.clear();
    assert_eq!(
        locate(bare, query("example.com")).unwrap(),
        vec![dest(Transport::Udp, 100, 5060)]
    );
    let mut tls_only = provider();
    tls_only.naptr.clear();
    tls_only.srv.clear();
    let secure = Query {
        secure: true,
        ..query("example.com")
    };
    assert_eq!(
        locate(tls_only, secure).unwrap(),
        vec![dest(Transport::Tls(None), 100, 5061)]
    );
}

#[test]
fn a_dot_target_or_no_address_is_an_error_naming_the_name() {
    let mut t = provider();
    t.srv
        .insert("_sips._tcp.example.com".into(), vec![srv(0, 0, 0, ".")]);
    let err = locate(t, query("example.com")).unwrap_err().to_string();
    assert!(
        err.contains("no SIP service") && err.contains("_sips._tcp.example.com"),
        "{err}"
    );
    let mut t = provider();
    t.ips.clear();
    let err = format!("{:#}", locate(t, query("example.com")).unwrap_err());
    assert!(
        err.contains("a.example.com") && err.contains("no address"),
        "{err}"
    );
}

#[test]
fn weights_share_out_the_first_place_as_rfc_2782_says() {
    // Weights 60/30/10 at one priority, 0 at a lower one: over many draws
    // the first place goes about 60/30/10 %, the backup is always last.
    let mut t = Table::default();
    t.srv.insert(
        "_sip._udp.w.example".into(),
        vec![
            srv(1, 60, 1, "h1"),
            srv(1, 30, 2, "h2"),
            srv(1, 10, 3, "h3"),
            srv(2, 0, 4, "h4"),
        ],
    );
    let l = Locator::with_source(t, 42);
    let mut first = [0u32; 4];
    for _ in 0..3000 {
        let order = l.srv_order(l.source.srv["_sip._udp.w.example"].clone());
        assert_eq!(order.len(), 4);
        assert_eq!(order[3].port, 4, "a lower priority always comes last");
        first[usize::from(order[0].port) - 1] += 1;
    }
    let share = |n: u32| f64::from(n) / 3000.0;
    assert!((share(first[0]) - 0.6).abs() < 0.05, "{first:?}");
    assert!((share(first[1]) - 0.3).abs() < 0.05, "{first:?}");
    assert!((share(first[2]) - 0.1).abs() < 0.04, "{first:?}");
    // The same seed draws the same order: the tests above are repeatable.
    let again = |seed| {
        let l = Locator::with_source(Table::default(), seed);
        let recs = vec![srv(1, 50, 1, "x"), srv(1, 50, 2, "y"), srv(1, 50, 3, "z")];
        (0..8)
            .map(|_| {
                l.srv_order(recs.clone())
                    .iter()
                    .map(|r| r.port)
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(again(3), again(3));
}

#[test]
fn answers_are_kept_for_their_ttl_and_asked_again_after() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut t = provider();
    t.ttl = Duration::from_millis(300);
    let l = Locator::with_source(t, 1);
    rt.block_on(l.locate(query("example.com"))).unwrap();
    let first = l.source.queries.load(Ordering::SeqCst);
    assert!(first >= 4, "NAPTR, SRV and two A: {first}");
    rt.block_on(l.locate(query("example.com"))).unwrap();
    assert_eq!(
        l.source.queries.load(Ordering::SeqCst),
        first,
        "all from the cache"
    );
    std::thread::sleep(Duration::from_millis(350));
    rt.block_on(l.locate(query("example.com"))).unwrap();
    assert_eq!(
        l.source.queries.load(Ordering::SeqCst),
        2 * first,
        "expired: asked again"
    );
    // A TTL of zero is never kept.
    let mut t = provider();
    t.ttl = Duration::ZERO;
    let l = Locator::with_source(t, 1);
    rt.block_on(l.locate(query("example.com"))).unwrap();
    rt.block_on(l.locate(query("example.com"))).unwrap();
    assert_eq!(l.source.queries.load(Ordering::SeqCst), 2 * first);
}

#[test]
fn the_same_servers_in_another_order_are_no_change() {
    let a = dest(Transport::Tcp(None), 3, 5061);
    let b = dest(Transport::Tcp(None), 4, 5070);
    let c = dest(Transport::Tcp(None), 5, 5070);
    assert_eq!(changed(&[a, b], vec![b, a]), None);
    assert_eq!(changed(&[a, b], vec![c, a]), Some(vec![c, a]));
    assert_eq!(changed(&[a, b], vec![a]), Some(vec![a]));
    assert_eq!(changed(&[a, b], Vec::new()), None, "nothing found: keep");
}

#[test]
fn an_account_looks_its_registrar_up_again_once_the_records_expire() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut t = provider();
    t.ttl = Duration::from_millis(200);
    let mut l = Locator::with_source(t, 1);
    let cfg = crate::config::parse(
        "[accounts.a]\nuser = \"u\"\nregistrar = \"example.com\"\ntransport = \"tcp\"\n",
        std::path::Path::new("c.toml"),
    )
    .unwrap();
    let mut account = rt
        .block_on(cfg.accounts["a"].resolve("a", "c.toml", &l))
        .unwrap();
    let before = vec![
        dest(Transport::Tcp(None), 3, 5061),
        dest(Transport::Tcp(None), 4, 5070),
    ];
    assert_eq!(account.targets(), before);
    // The provider moves its main server; until the TTL runs out the
    // cached answer stands.
    l.source.srv.insert(
        "_sip._tcp.example.com".into(),
        vec![
            srv(20, 0, 5070, "d.example.com."),
            srv(10, 0, 5080, "e.example.com."),
        ],
    );
    assert!(!rt.block_on(account.relocate(&l)).unwrap());
    assert_eq!(account.targets(), before);
    std::thread::sleep(Duration::from_millis(250));
    assert!(rt.block_on(account.relocate(&l)).unwrap());
    assert_eq!(
        account.targets(),
        vec![
            dest(Transport::Tcp(None), 5, 5080),
            dest(Transport::Tcp(None), 4, 5070),
        ]
    );
    assert_eq!(account.registrar_ips, vec![ip(5), ip(4)]);
    // A failed lookup keeps what the account has.
    l.source.srv.clear();
    l.source.ips.clear();
    std::thread::sleep(Duration::from_millis(250));
    assert!(rt.block_on(account.relocate(&l)).is_err());
    assert_eq!(account.targets()[0], dest(Transport::Tcp(None), 5, 5080));
}
