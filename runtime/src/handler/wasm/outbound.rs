//! Outbound HTTP for guests: deny by default, allow only the hosts listed for the handler, and
//! refuse private, loopback, link-local and cloud-metadata addresses unless the handler's
//! config explicitly allows them (so an allow-listed name cannot be pointed at the inside).
//! The name is resolved once: the connection goes to the addresses that were checked
//! ([`super::pinned`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use futures::future::BoxFuture;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use super::pinned;
use super::recording::{Player, Recorder};

/// Turns a host and port into the addresses to connect to: the system's resolver
/// ([`system_resolver`]), or a test's.
pub type Resolver =
    Arc<dyn Fn(String, u16) -> BoxFuture<'static, std::io::Result<Vec<SocketAddr>>> + Send + Sync>;

/// The operating system's resolver (`getaddrinfo`, off the async threads).
pub fn system_resolver() -> Resolver {
    static SYSTEM: std::sync::OnceLock<Resolver> = std::sync::OnceLock::new();
    SYSTEM
        .get_or_init(|| {
            Arc::new(|host, port| {
                Box::pin(async move {
                    Ok(tokio::net::lookup_host((host.as_str(), port))
                        .await?
                        .collect())
                })
            })
        })
        .clone()
}

/// Where a handler may send requests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutboundPolicy {
    /// `host`, `host:port` or `*.domain` patterns.
    pub allowed_hosts: Vec<String>,
    /// Allow addresses inside the server's network (loopback, private, link-local).
    pub allow_private_network: bool,
}

impl OutboundPolicy {
    /// Whether `host` (with the URL's effective `port`) matches an allow-list entry.
    pub fn allows_host(&self, host: &str, port: u16) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        self.allowed_hosts.iter().any(|pattern| {
            let pattern = pattern.to_ascii_lowercase();
            let (pattern_host, pattern_port) = match pattern.rsplit_once(':') {
                Some((h, p)) if !h.is_empty() && !h.ends_with(':') && p.parse::<u16>().is_ok() => {
                    (h.to_owned(), p.parse::<u16>().ok())
                }
                _ => (pattern.clone(), None),
            };
            let pattern_host = pattern_host.trim_start_matches('[').trim_end_matches(']');
            let host_matches = match pattern_host.strip_prefix("*.") {
                Some(domain) => host.ends_with(&format!(".{domain}")),
                None => host == pattern_host,
            };
            host_matches && pattern_port.is_none_or(|p| p == port)
        })
    }

    /// Resolves `host` once and checks every address it resolves to: these, and only these,
    /// are what the connection may use.
    async fn checked_addresses(
        &self,
        host: &str,
        port: u16,
        resolve: &Resolver,
    ) -> Result<Vec<SocketAddr>, String> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let addresses = resolve(host.to_owned(), port)
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?;
        if addresses.is_empty() {
            return Err(format!("{host} resolves to no address"));
        }
        if !self.allow_private_network
            && let Some(internal) = addresses.iter().find(|a| is_internal(a.ip()))
        {
            return Err(format!(
                "{host} resolves to {}, an internal address; set allow_private_network to allow it",
                internal.ip()
            ));
        }
        Ok(addresses)
    }
}

/// Loopback, private, link-local (cloud metadata lives at 169.254.169.254), shared, unspecified,
/// broadcast, multicast, reserved, benchmarking and documentation ranges, in both address
/// families — and every IPv6 form that carries an IPv4 address (mapped, compatible, NAT64,
/// 6to4), judged by the address it carries.
fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || a == 0
                // Shared address space (carrier-grade NAT), 100.64.0.0/10.
                || (a == 100 && (64..128).contains(&b))
                // IETF protocol assignments, 192.0.0.0/24, and the documentation ranges.
                || (a, b, c) == (192, 0, 0)
                || (a, b, c) == (192, 0, 2)
                || (a, b, c) == (198, 51, 100)
                || (a, b, c) == (203, 0, 113)
                // Benchmarking, 198.18.0.0/15; reserved, 240.0.0.0/4.
                || (a == 198 && (b & 0xfe) == 18)
                || a >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_ipv4(v6) {
                return is_internal(IpAddr::V4(v4));
            }
            let segments = v6.segments();
            let first = segments[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // Unique local fc00::/7, link-local fe80::/10, deprecated site-local fec0::/10.
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first & 0xffc0) == 0xfec0
                // Discard-only 100::/64, documentation 2001:db8::/32, Teredo 2001::/32 (a
                // tunnel to wherever its embedded address says).
                || segments[..4] == [0x100, 0, 0, 0]
                || (first, segments[1]) == (0x2001, 0xdb8)
                || (first, segments[1]) == (0x2001, 0)
        }
    }
}

/// The IPv4 address an IPv6 address carries: IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible
/// `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d` and `64:ff9b:1::/48`, and 6to4 `2002:aabb:ccdd::/48`.
fn embedded_ipv4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = v6.segments();
    let low = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        std::net::Ipv4Addr::new(a, b, c, d)
    };
    // `::` and `::1` are the unspecified and loopback addresses, not compatible ones.
    if s[..6] == [0; 6] && (s[6] != 0 || s[7] > 1) {
        return Some(low(s[6], s[7]));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || (s[0], s[1], s[2]) == (0x64, 0xff9b, 1) {
        return Some(low(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return Some(low(s[1], s[2]));
    }
    None
}

/// The `wasi:http` hooks of one call: every request passes the handler's policy first.
pub struct Outbound {
    pub policy: Arc<OutboundPolicy>,
    /// Why the last request was refused, for the attempt record.
    pub denied: Arc<std::sync::Mutex<Vec<String>>>,
    pub resolver: Resolver,
    /// The attempt's trace context headers (`traceparent`, `tracestate`), added to every
    /// request that does not set its own, so that what a handler calls joins the trace.
    pub trace_context: Vec<(String, String)>,
    /// Whether the exchanges are recorded, or answered from a recording.
    pub tap: Tap,
}

/// What happens to a call's exchanges besides going out.
#[derive(Clone, Default)]
pub enum Tap {
    /// Nothing: they go out, unrecorded.
    #[default]
    Off,
    /// They go out and are recorded (the handler opted in).
    Record(Arc<Recorder>),
    /// Nothing goes out: a replay in `recorded` mode answers each from the recording.
    Play(Arc<Player>),
}

type ResponseFuture =
    Box<dyn Future<Output = Result<(http::Response<WasiBody>, pinned::Io), HttpError>> + Send>;

impl WasiHttpHooks for Outbound {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> ResponseFuture {
        drop(fut);
        let policy = self.policy.clone();
        let denied = self.denied.clone();
        let resolver = self.resolver.clone();
        let mut request = request;
        for (name, value) in &self.trace_context {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_str(value),
            ) && !request.headers().contains_key(&name)
            {
                request.headers_mut().insert(name, value);
            }
        }
        let tap = self.tap.clone();
        if let Tap::Play(player) = tap {
            return Box::new(async move {
                let response = player.answer(request).await?;
                let io: pinned::Io = Box::new(async { Ok(()) });
                Ok((response, io))
            });
        }
        Box::new(async move {
            let uri = request.uri();
            let host = uri.host().unwrap_or_default().to_owned();
            let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
            let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
            let verdict = if policy.allows_host(&host, port) {
                policy.checked_addresses(&host, port, &resolver).await
            } else {
                Err(format!(
                    "{host}:{port} is not in this handler's allowed_hosts"
                ))
            };
            match verdict {
                Ok(addresses) => match tap {
                    Tap::Record(recorder) => {
                        let (request, ticket) = recorder.start(request);
                        Recorder::finish(ticket, pinned::send(request, options, &addresses).await)
                    }
                    Tap::Off | Tap::Play(_) => pinned::send(request, options, &addresses).await,
                },
                Err(reason) => {
                    tracing::warn!(%reason, "outbound request from a wasm handler refused");
                    denied
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(reason);
                    Err(HttpError::HttpRequestDenied)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    fn policy(hosts: &[&str]) -> OutboundPolicy {
        OutboundPolicy {
            allowed_hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            allow_private_network: false,
        }
    }

    #[test]
    fn hosts_match_exactly_by_wildcard_or_with_a_port() {
        let p = policy(&["api.example.com", "*.example.org", "localhost:8080"]);
        assert!(p.allows_host("api.example.com", 443));
        assert!(p.allows_host("API.example.com", 80));
        assert!(!p.allows_host("evil.api.example.com.attacker.net", 443));
        assert!(!p.allows_host("example.com", 443));
        assert!(p.allows_host("a.example.org", 443));
        assert!(!p.allows_host("example.org", 443));
        assert!(p.allows_host("localhost", 8080));
        assert!(!p.allows_host("localhost", 8081));
        assert!(!policy(&[]).allows_host("api.example.com", 443));
    }

    #[test]
    fn internal_ranges_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            // IPv4-compatible, NAT64 (well-known and local-use) and 6to4 forms of inside
            // addresses.
            "::127.0.0.1",
            "::10.0.0.1",
            "::169.254.169.254",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::10.0.0.1",
            "2002:7f00:0001::1",
            "2002:a9fe:a9fe::",
            "fec0::1",
            "100::1",
            "2001:db8::1",
            "2001:0:4136:e378::1",
            "ff02::1",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "198.18.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "192.0.0.8",
        ] {
            assert!(is_internal(ip.parse().expect("ip")), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700::1111",
            "64:ff9b::5db8:d822",
            "2002:5db8:d822::1",
            "::93.184.216.34",
            "198.20.0.1",
        ] {
            assert!(!is_internal(ip.parse().expect("ip")), "{ip}");
        }
    }

    /// A name server that answers the first lookup with one address and every later one with
    /// another: the rebinding attack (the first passes the check, the second is the inside).
    /// The connection must go to the first answer, the name looked up once. Both are local
    /// listeners here, so the handler allows private addresses; the check itself is
    /// `an_internal_answer_is_refused_before_connecting`.
    #[tokio::test]
    async fn a_name_is_resolved_once_and_connected_to_as_resolved() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        async fn listener() -> (SocketAddr, Arc<AtomicUsize>) {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let address = listener.local_addr().expect("address");
            let accepted = Arc::new(AtomicUsize::new(0));
            let counter = accepted.clone();
            tokio::spawn(async move {
                // Accept and hang up: the request fails, the connection is counted.
                while listener.accept().await.is_ok() {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
            });
            (address, accepted)
        }
        let (checked, reached_checked) = listener().await;
        let (inside, reached_inside) = listener().await;
        let lookups = Arc::new(AtomicUsize::new(0));
        let seen = lookups.clone();
        let resolver: Resolver = Arc::new(move |_host, _port| {
            let first = seen.fetch_add(1, Ordering::SeqCst) == 0;
            Box::pin(async move { Ok(vec![if first { checked } else { inside }]) })
        });
        let mut hooks = Outbound {
            policy: Arc::new(OutboundPolicy {
                allow_private_network: true,
                ..policy(&["rebind.example"])
            }),
            denied: Arc::default(),
            resolver,
            trace_context: Vec::new(),
            tap: Tap::Off,
        };
        let request = http::Request::get("http://rebind.example/")
            .body(
                http_body_util::Empty::<hyper::body::Bytes>::new()
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            )
            .expect("request");
        let sent = Box::into_pin(hooks.send_request(request, None, Box::new(async { Ok(()) })));
        assert!(sent.await.is_err(), "the listener hangs up");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(
            lookups.load(Ordering::SeqCst),
            1,
            "the name was looked up again"
        );
        assert_eq!(reached_checked.load(Ordering::SeqCst), 1);
        assert_eq!(
            reached_inside.load(Ordering::SeqCst),
            0,
            "the connection went to the rebound address"
        );
    }

    #[tokio::test]
    async fn an_internal_answer_is_refused_before_connecting() {
        let resolver: Resolver = Arc::new(|_host, _port| {
            Box::pin(async { Ok(vec![SocketAddr::from(([169, 254, 169, 254], 80))]) })
        });
        let addresses = policy(&["metadata.example"])
            .checked_addresses("metadata.example", 80, &resolver)
            .await;
        assert!(addresses.expect_err("refused").contains("internal address"));
    }
}
