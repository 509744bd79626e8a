//! Locating SIP servers (RFC 3263): NAPTR picks the transport, SRV the
//! servers with their priorities and weights (RFC 2782), A/AAAA their
//! addresses. An IP literal or an explicit port skips NAPTR and SRV; a
//! transport given without a port skips NAPTR. The result is an ordered
//! list: the SIP core tries the next entry when one does not answer.
//!
//! One [`Resolver`] serves a run: the system's name servers or those of
//! `[dns] servers` / `--dns-server`, with a cache that keeps each answer for
//! its TTL.

use agentphone_sip::transport::{Destination, Transport};
use anyhow::{anyhow, bail, Context, Result};
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a name with no records of a type is remembered as such.
const NEGATIVE_TTL: Duration = Duration::from_secs(30);

/// Targets kept at most: each one not answering costs a transaction timeout,
/// so a longer list only delays the failure.
const MAX_TARGETS: usize = 8;

/// A NAPTR record (RFC 3403), as RFC 3263 §4.1 uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naptr {
    pub order: u16,
    pub preference: u16,
    /// `S` for records whose replacement is an SRV name.
    pub flags: String,
    /// `SIP+D2U`, `SIP+D2T`, `SIPS+D2T`, ...
    pub service: String,
    pub replacement: String,
}

/// An SRV record (RFC 2782).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srv {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    /// `.` means the service is not offered here.
    pub target: String,
}

/// The records of one query and how long they may be kept.
#[derive(Debug, Clone)]
pub struct Answer<T> {
    pub records: Vec<T>,
    pub ttl: Duration,
}

impl<T> Answer<T> {
    /// No records of the type (NXDOMAIN or NODATA): kept [`NEGATIVE_TTL`].
    pub fn none() -> Self {
        Answer {
            records: Vec::new(),
            ttl: NEGATIVE_TTL,
        }
    }
}

/// Where records come from: DNS, or a table in the tests.
pub trait RecordSource: Send + Sync {
    fn naptr(&self, name: &str) -> impl Future<Output = Result<Answer<Naptr>>> + Send;
    fn srv(&self, name: &str) -> impl Future<Output = Result<Answer<Srv>>> + Send;
    /// A and AAAA records together.
    fn ips(&self, name: &str) -> impl Future<Output = Result<Answer<IpAddr>>> + Send;
}

/// What to locate: the host part of a URI (or of `registrar`), its port and
/// transport when given, and whether it is a `sips:` URI.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    pub host: &'a str,
    pub port: Option<u16>,
    pub transport: Option<Transport>,
    pub secure: bool,
}

#[derive(Debug, Clone)]
enum Records {
    Naptr(Vec<Naptr>),
    Srv(Vec<Srv>),
    Ips(Vec<IpAddr>),
}

/// RFC 3263 resolution over a record source, with a TTL cache.
pub struct Locator<S> {
    source: S,
    cache: Mutex<HashMap<(u8, String), (Instant, Records)>>,
    /// Draws the RFC 2782 weighted order; seeded in tests.
    rng: Mutex<StdRng>,
}

/// The run's resolver over DNS.
pub type Resolver = Locator<Hickory>;

impl<S: RecordSource> Locator<S> {
    pub fn with_source(source: S, seed: u64) -> Self {
        Locator {
            source,
            cache: Mutex::new(HashMap::new()),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
        }
    }

    /// The servers for `q`, in the order to try them (RFC 3263 §4).
    pub async fn locate(&self, q: Query<'_>) -> Result<Vec<Destination>> {
        let host = q.host.trim_start_matches('[').trim_end_matches(']');
        let default_transport = || {
            if q.secure {
                Transport::Tls(None)
            } else {
                Transport::Udp
            }
        };
        // §4.1/§4.2: a numeric IP or an explicit port: no NAPTR, no SRV.
        if let Ok(ip) = host.parse::<IpAddr>() {
            let transport = q.transport.unwrap_or_else(default_transport);
            let port = q.port.unwrap_or(transport.default_port());
            return Ok(vec![Destination {
                transport,
                addr: SocketAddr::new(ip, port),
            }]);
        }
        if let Some(port) = q.port {
            let transport = q.transport.unwrap_or_else(default_transport);
            return self.addresses(host, port, transport).await;
        }
        let naptr = match q.transport {
            Some(_) => None,
            None => self.naptr_services(host, q.secure).await?,
        };
        let candidates: Vec<(Transport, String)> = match (q.transport, &naptr) {
            (Some(t), _) => vec![(t, format!("{}.{host}", srv_prefix(t)))],
            (None, Some(found)) => found.clone(),
            (None, None) => match () {
                // §4.1: no NAPTR: an SRV query for each transport we support.
                () if q.secure => vec![(Transport::Tls(None), format!("_sips._tcp.{host}"))],
                // `_sip` for a sip: URI (§4.1): TLS for one takes `transport = tls`
                // or a NAPTR record offering SIPS+D2T.
                () => [Transport::Udp, Transport::Tcp(None)]
                    .into_iter()
                    .map(|t| (t, format!("{}.{host}", srv_prefix(t))))
                    .collect(),
            },
        };
        for (transport, name) in &candidates {
            let srv = self.srv(name).await?;
            if srv.len() == 1 && srv[0].target == "." {
                bail!(
                    "{host} says it offers no SIP service over {} ({name} is '.')",
                    transport.via_token()
                );
            }
            if srv.is_empty() {
                continue;
            }
            let mut targets = Vec::new();
            let mut failures = Vec::new();
            for record in self.srv_order(srv) {
                match self
                    .addresses(&record.target, record.port, *transport)
                    .await
                {
                    Ok(found) => targets.extend(found),
                    Err(e) => failures.push(format!("{e:#}")),
                }
            }
            if targets.is_empty() {
                bail!(
                    "no address for the servers of {name}: {}",
                    failures.join("; ")
                );
            }
            targets.truncate(MAX_TARGETS);
            return Ok(targets);
        }
        // §4.2: no SRV: the host itself, on the transport's default port.
        // A NAPTR whose SRV name has no records still chose the transport.
        let transport = q
            .transport
            .or(naptr.as_ref().and_then(|n| n.first()).map(|(t, _)| *t))
            .unwrap_or_else(default_transport);
        self.addresses(host, transport.default_port(), transport)
            .await
    }

    /// §4.1: the NAPTR records of `host` for SIP transports we support, in
    /// order and preference, as (transport, SRV name); `None` when there is
    /// no such record.
    async fn naptr_services(
        &self,
        host: &str,
        secure: bool,
    ) -> Result<Option<Vec<(Transport, String)>>> {
        let mut records: Vec<Naptr> = self
            .cached(0, host, || async {
                self.source
                    .naptr(host)
                    .await
                    .map(|a| (a.ttl, Records::Naptr(a.records)))
            })
            .await
            .map(|r| match r {
                Records::Naptr(n) => n,
                _ => Vec::new(),
            })
            // A NAPTR failure is not fatal: SRV and A come next.
            .unwrap_or_else(|e| {
                tracing::debug!("NAPTR {host}: {e:#}");
                Vec::new()
            });
        records.sort_by_key(|r| (r.order, r.preference));
        let found: Vec<(Transport, String)> = records
            .iter()
            .filter(|r| r.flags.eq_ignore_ascii_case("s"))
            .filter_map(|r| {
                let t = match r.service.to_ascii_uppercase().as_str() {
                    "SIP+D2U" if !secure => Transport::Udp,
                    "SIP+D2T" if !secure => Transport::Tcp(None),
                    "SIPS+D2T" => Transport::Tls(None),
                    _ => return None,
                };
                Some((t, r.replacement.trim_end_matches('.').to_string()))
            })
            .collect();
        Ok((!found.is_empty()).then_some(found))
    }

    async fn srv(&self, name: &str) -> Result<Vec<Srv>> {
        let found = self
            .cached(1, name, || async {
                self.source
                    .srv(name)
                    .await
                    .map(|a| (a.ttl, Records::Srv(a.records)))
            })
            .await;
        match found {
            Ok(Records::Srv(s)) => Ok(s),
            Ok(_) => Ok(Vec::new()),
            Err(e) => {
                tracing::debug!("SRV {name}: {e:#}");
                Ok(Vec::new())
            }
        }
    }

    /// The addresses of `host` (IPv4 first: what most PBXs listen on), each
    /// with `port` over `transport`.
    async fn addresses(
        &self,
        host: &str,
        port: u16,
        transport: Transport,
    ) -> Result<Vec<Destination>> {
        let host = host.trim_end_matches('.');
        let found = self
            .cached(2, host, || async {
                self.source
                    .ips(host)
                    .await
                    .map(|a| (a.ttl, Records::Ips(a.records)))
            })
            .await
            .with_context(|| format!("cannot resolve '{host}'"))?;
        let Records::Ips(mut ips) = found else {
            bail!("cannot resolve '{host}'");
        };
        if ips.is_empty() {
            bail!("'{host}' has no address");
        }
        ips.sort_by_key(|ip| ip.is_ipv6());
        Ok(ips
            .into_iter()
            .map(|ip| Destination {
                transport,
                addr: SocketAddr::new(ip, port),
            })
            .collect())
    }

    /// RFC 2782: lowest priority first; within one priority, a weighted
    /// random order (weight 0 records first in the running sum, so they are
    /// chosen rarely but still chosen).
    fn srv_order(&self, mut records: Vec<Srv>) -> Vec<Srv> {
        records.sort_by_key(|r| (r.priority, r.weight != 0));
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        let mut ordered = Vec::with_capacity(records.len());
        while !records.is_empty() {
            let priority = records[0].priority;
            let mut group: Vec<Srv> = Vec::new();
            while records.first().is_some_and(|r| r.priority == priority) {
                group.push(records.remove(0));
            }
            while !group.is_empty() {
                let total: u32 = group.iter().map(|r| u32::from(r.weight)).sum();
                let pick = rng.random_range(0..=total);
                let mut sum = 0u32;
                let at = group
                    .iter()
                    .position(|r| {
                        sum += u32::from(r.weight);
                        sum >= pick
                    })
                    .unwrap_or(0);
                ordered.push(group.remove(at));
            }
        }
        ordered
    }

    /// The cached records of (`kind`, `name`) while their TTL lasts, else
    /// `query`'s, kept for the TTL they came with.
    async fn cached<F, Fut>(&self, kind: u8, name: &str, query: F) -> Result<Records>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(Duration, Records)>>,
    {
        let key = (kind, name.to_ascii_lowercase());
        let now = Instant::now();
        {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((until, records)) = cache.get(&key) {
                if *until > now {
                    return Ok(records.clone());
                }
            }
        }
        let (ttl, records) = query().await?;
        if !ttl.is_zero() {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            cache.retain(|_, (until, _)| *until > now);
            cache.insert(key, (now + ttl, records.clone()));
        }
        Ok(records)
    }
}

/// A new lookup's servers when they differ from `old` as a set; `None`
/// when they are the same servers (whatever their order, so a fresh RFC 2782
/// draw does not move a registration off a server that works) or when the
/// lookup found none.
pub fn changed(old: &[Destination], new: Vec<Destination>) -> Option<Vec<Destination>> {
    let same = old.len() == new.len() && new.iter().all(|d| old.contains(d));
    (!same && !new.is_empty()).then_some(new)
}

/// The SRV service and protocol labels of a transport.
fn srv_prefix(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "_sip._udp",
        Transport::Tcp(_) => "_sip._tcp",
        Transport::Tls(_) => "_sips._tcp",
    }
}

/// Records from DNS through hickory-resolver.
pub struct Hickory(hickory_resolver::TokioResolver);

impl Resolver {
    /// A resolver asking `servers`, or the system's name servers (from
    /// `/etc/resolv.conf`) when there are none. `/etc/hosts` is read first
    /// either way, so `localhost` and local names keep working.
    pub fn new(servers: &[SocketAddr]) -> Result<Self> {
        use hickory_resolver::config::{
            NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
        };
        use hickory_resolver::name_server::TokioConnectionProvider;
        use hickory_resolver::proto::xfer::Protocol;
        let mut builder = if servers.is_empty() {
            match hickory_resolver::TokioResolver::builder_tokio() {
                Ok(b) => b,
                // Addresses and /etc/hosts names still work; domains fail
                // with the reason when they are looked up.
                Err(e) => {
                    tracing::warn!(
                        "no system name servers ({e}); set [dns] servers or --dns-server"
                    );
                    hickory_resolver::TokioResolver::builder_with_config(
                        ResolverConfig::new(),
                        TokioConnectionProvider::default(),
                    )
                }
            }
        } else {
            let mut config = ResolverConfig::new();
            for s in servers {
                config.add_name_server(NameServerConfig::new(*s, Protocol::Udp));
                config.add_name_server(NameServerConfig::new(*s, Protocol::Tcp));
            }
            hickory_resolver::TokioResolver::builder_with_config(
                config,
                TokioConnectionProvider::default(),
            )
        };
        let opts: &mut ResolverOpts = builder.options_mut();
        // Bounded: a dead name server fails the lookup in about 4 s.
        opts.timeout = Duration::from_secs(2);
        opts.attempts = 2;
        opts.use_hosts_file = ResolveHosts::Always;
        Ok(Locator::with_source(
            Hickory(builder.build()),
            rand::random(),
        ))
    }
}

/// The TTL left of an answer valid until `until`.
fn ttl_until(until: Instant) -> Duration {
    until.saturating_duration_since(Instant::now())
}

/// An error that means "no records of this type" (kept as such), or a real
/// failure.
fn none_or_err<T>(name: &str, kind: &str, e: hickory_resolver::ResolveError) -> Result<Answer<T>> {
    if e.is_no_records_found() || e.is_nx_domain() {
        return Ok(Answer::none());
    }
    Err(anyhow!("{kind} {name}: {e}"))
}

/// `name` as an absolute DNS name, so search domains are not appended to it.
fn absolute(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

impl RecordSource for Hickory {
    async fn naptr(&self, name: &str) -> Result<Answer<Naptr>> {
        use hickory_resolver::proto::rr::{RData, RecordType};
        let lookup = match self.0.lookup(absolute(name), RecordType::NAPTR).await {
            Ok(l) => l,
            Err(e) => return none_or_err(name, "NAPTR", e),
        };
        let records = lookup
            .record_iter()
            .filter_map(|r| match r.data() {
                RData::NAPTR(n) => Some(Naptr {
                    order: n.order(),
                    preference: n.preference(),
                    flags: String::from_utf8_lossy(n.flags()).into_owned(),
                    service: String::from_utf8_lossy(n.services()).into_owned(),
                    replacement: n.replacement().to_ascii(),
                }),
                _ => None,
            })
            .collect();
        Ok(Answer {
            records,
            ttl: ttl_until(lookup.valid_until()),
        })
    }

    async fn srv(&self, name: &str) -> Result<Answer<Srv>> {
        let lookup = match self.0.srv_lookup(absolute(name)).await {
            Ok(l) => l,
            Err(e) => return none_or_err(name, "SRV", e),
        };
        let records = lookup
            .iter()
            .map(|s| Srv {
                priority: s.priority(),
                weight: s.weight(),
                port: s.port(),
                target: s.target().to_ascii(),
            })
            .collect();
        Ok(Answer {
            records,
            ttl: ttl_until(lookup.as_lookup().valid_until()),
        })
    }

    async fn ips(&self, name: &str) -> Result<Answer<IpAddr>> {
        match self.0.lookup_ip(name).await {
            Ok(l) => Ok(Answer {
                records: l.iter().collect(),
                ttl: ttl_until(l.valid_until()),
            }),
            Err(e) => none_or_err(name, "A/AAAA", e),
        }
    }
}

#[cfg(test)]
mod tests;
