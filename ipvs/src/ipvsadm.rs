//! The `ipvsadm` rule format (`ipvsadm -Sn` output, `ipvsadm -R` input): a table written
//! out as rules, and rules read back into desired services.
//!
//! [`save`] writes what `ipvsadm -Sn` (ipvsadm 1.31) writes for the same table: services
//! in `ipvsadm`'s order (options as `-s`, `-p`, `-M`, `--pe`, `-o`, `-b`) (fwmark, family, protocol, address, port, compared the way its
//! library compares them), each followed by its destinations in address and port order.
//! `ipvsadm -S` does not write thresholds (`-x`, `-y`), so neither does [`save`].
//!
//! [`parse`] reads `-A` and `-a` rules (the short and long option names `ipvsadm -S`
//! writes, plus `-x`/`-y`) with `ipvsadm`'s defaults: scheduler `wlc`, persistence
//! timeout 360 s, direct routing, weight 1, and the service's port when a destination
//! gives none. Blank lines and `#` comments are skipped; any other line is an error.

use crate::model::{
    Destination, Family, ForwardMethod, Netmask, PersistenceEngine, Protocol, Scheduler, Service,
    ServiceKey, Snapshot, Tunnel, TunnelChecksum,
};
use crate::reconcile::DesiredService;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// `ipvsadm`'s persistence timeout when `-p` has no value.
pub const DEFAULT_PERSISTENCE: Duration = Duration::from_secs(360);

/// A rule that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

fn host(addr: &IpAddr, port: u16) -> String {
    match addr {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// The service part of a rule: `-t 10.0.0.1:80`, `-f 7 -6`, ...
pub fn service_spec(key: &ServiceKey) -> String {
    match key {
        ServiceKey::Addr {
            addr,
            protocol,
            port,
        } => {
            let opt = match protocol {
                Protocol::Tcp => "-t",
                Protocol::Udp => "-u",
                Protocol::Sctp => "--sctp-service",
            };
            format!("{opt} {}", host(addr, *port))
        }
        ServiceKey::Fwmark {
            family: Family::V4,
            mark,
        } => format!("-f {mark}"),
        ServiceKey::Fwmark {
            family: Family::V6,
            mark,
        } => format!("-f {mark} -6"),
    }
}

fn sched_flag_names(s: &Scheduler) -> [&'static str; 3] {
    match s {
        Scheduler::Sh => ["sh-fallback", "sh-port", "flag-3"],
        Scheduler::Mh => ["mh-fallback", "mh-port", "flag-3"],
        _ => ["flag-1", "flag-2", "flag-3"],
    }
}

/// One `-A` rule.
pub fn service_rule(svc: &Service) -> String {
    let mut out = format!("-A {} -s {}", service_spec(&svc.key), svc.scheduler.name());
    let names = sched_flag_names(&svc.scheduler);
    // ipvsadm names only two flags for sh and mh, and writes only those.
    let shown = if matches!(svc.scheduler, Scheduler::Sh | Scheduler::Mh) {
        2
    } else {
        3
    };
    let on: Vec<&str> = [
        svc.flags.sched_fallback,
        svc.flags.sched_port,
        svc.flags.sched_flag3,
    ]
    .iter()
    .zip(names)
    .take(shown)
    .filter(|(on, _)| **on)
    .map(|(_, n)| n)
    .collect();
    if svc.flags.persistent {
        let _ = write!(out, " -p {}", svc.timeout.as_secs());
        match svc.netmask {
            Netmask::V4(m) if m != Ipv4Addr::BROADCAST => {
                let _ = write!(out, " -M {m}");
            }
            Netmask::V6(p) if p != 128 => {
                let _ = write!(out, " -M {p}");
            }
            _ => {}
        }
    }
    if let Some(pe) = &svc.pe {
        let _ = write!(out, " --pe {}", pe.name());
    }
    if svc.flags.one_packet {
        out.push_str(" -o");
    }
    if !on.is_empty() {
        let _ = write!(out, " -b {}", on.join(","));
    }
    out
}

fn checksum_opt(c: TunnelChecksum) -> &'static str {
    match c {
        TunnelChecksum::None => "--tun-nocsum",
        TunnelChecksum::Checksum => "--tun-csum",
        TunnelChecksum::Remote => "--tun-remcsum",
    }
}

/// One `-a` rule.
pub fn dest_rule(service: &ServiceKey, d: &Destination) -> String {
    let fwd = match d.fwd {
        ForwardMethod::Masquerade => "-m",
        ForwardMethod::Tunnel(_) => "-i",
        ForwardMethod::DirectRoute | ForwardMethod::Local | ForwardMethod::Bypass => "-g",
    };
    let mut out = format!(
        "-a {} -r {} {fwd} -w {}",
        service_spec(service),
        host(&d.key.addr, d.key.port),
        d.weight
    );
    match d.fwd {
        ForwardMethod::Tunnel(Tunnel::Ipip) => out.push_str(" --tun-type ipip"),
        ForwardMethod::Tunnel(Tunnel::Gue { port, checksum }) => {
            let _ = write!(
                out,
                " --tun-type gue --tun-port {port} {}",
                checksum_opt(checksum)
            );
        }
        ForwardMethod::Tunnel(Tunnel::Gre { checksum }) => {
            let _ = write!(out, " --tun-type gre {}", checksum_opt(checksum));
        }
        _ => {}
    }
    out
}

/// `ntohl(a) - ntohl(b)` as a C `int`, as `ipvsadm`'s comparators compute it.
fn c_sub(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

fn addr_cmp(a: &IpAddr, b: &IpAddr) -> i32 {
    match (a, b) {
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let (a, b) = (a.octets(), b.octets());
            for i in 0..4 {
                let w = |o: &[u8; 16]| {
                    u32::from_be_bytes([o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]])
                };
                let r = c_sub(w(&a), w(&b));
                if r != 0 {
                    return r;
                }
            }
            0
        }
        _ => {
            let w = |x: &IpAddr| match x {
                IpAddr::V4(v) => u32::from(*v),
                IpAddr::V6(v) => {
                    let o = v.octets();
                    u32::from_be_bytes([o[0], o[1], o[2], o[3]])
                }
            };
            c_sub(w(a), w(b))
        }
    }
}

fn service_cmp(a: &ServiceKey, b: &ServiceKey) -> i32 {
    let parts = |k: &ServiceKey| -> (u32, u16, u16, Option<(IpAddr, u16)>) {
        match k {
            ServiceKey::Addr {
                addr,
                protocol,
                port,
            } => (
                0,
                Family::of(addr).af(),
                protocol.number(),
                Some((*addr, *port)),
            ),
            ServiceKey::Fwmark { family, mark } => (*mark, family.af(), 0, None),
        }
    };
    let (fa, afa, pa, xa) = parts(a);
    let (fb, afb, pb, xb) = parts(b);
    let mut r = c_sub(fa, fb);
    if r == 0 {
        r = i32::from(afa) - i32::from(afb);
    }
    if r == 0 {
        r = i32::from(pa) - i32::from(pb);
    }
    if let (0, Some((aa, pa)), Some((ab, pb))) = (r, xa, xb) {
        r = addr_cmp(&aa, &ab);
        if r == 0 {
            r = i32::from(pa) - i32::from(pb);
        }
    }
    r
}

/// A top-down merge sort that takes from the left run on `cmp <= 0`, as glibc's `qsort`
/// (`msort`) does. `ipvsadm`'s comparators are not total orders (the wrapping
/// subtraction makes addresses more than 2^31 apart compare in a cycle), so the result
/// depends on the algorithm; this one reproduces `ipvsadm`'s order and, unlike the
/// standard library's sorts, is defined (and never panics) for any comparator.
fn c_msort<T: Copy>(v: &mut [T], cmp: &impl Fn(&T, &T) -> i32) {
    let n = v.len();
    if n <= 1 {
        return;
    }
    let n1 = n / 2;
    c_msort(&mut v[..n1], cmp);
    c_msort(&mut v[n1..], cmp);
    let mut merged = Vec::with_capacity(n);
    let (mut i, mut j) = (0, n1);
    while i < n1 && j < n {
        if cmp(&v[i], &v[j]) <= 0 {
            merged.push(v[i]);
            i += 1;
        } else {
            merged.push(v[j]);
            j += 1;
        }
    }
    merged.extend_from_slice(&v[i..n1]);
    merged.extend_from_slice(&v[j..]);
    v.copy_from_slice(&merged);
}

/// The table as `ipvsadm -Sn` writes it (one rule a line, trailing newline).
pub fn save(snapshot: &Snapshot) -> String {
    let mut services: Vec<_> = snapshot.services.iter().collect();
    c_msort(&mut services, &|a, b| {
        service_cmp(&a.service.key, &b.service.key)
    });
    let mut out = String::new();
    for s in services {
        out.push_str(&service_rule(&s.service));
        out.push('\n');
        let mut dests: Vec<_> = s.dests.iter().map(|d| &d.dest).collect();
        c_msort(
            &mut dests,
            &|a, b| match addr_cmp(&a.key.addr, &b.key.addr) {
                0 => i32::from(a.key.port) - i32::from(b.key.port),
                r => r,
            },
        );
        for d in dests {
            out.push_str(&dest_rule(&s.service.key, d));
            out.push('\n');
        }
    }
    out
}

fn parse_host(s: &str, what: &str) -> Result<(IpAddr, Option<u16>), String> {
    let bad = || format!("bad {what} address {s:?}");
    if let Some(rest) = s.strip_prefix('[') {
        let (a, tail) = rest.split_once(']').ok_or_else(bad)?;
        let addr = a.parse().map_err(|_| bad())?;
        let port = match tail.strip_prefix(':') {
            Some(p) => Some(p.parse().map_err(|_| bad())?),
            None if tail.is_empty() => None,
            None => return Err(bad()),
        };
        return Ok((addr, port));
    }
    if let Ok(a) = s.parse::<IpAddr>() {
        return Ok((a, None));
    }
    let (a, p) = s.rsplit_once(':').ok_or_else(bad)?;
    Ok((
        a.parse().map_err(|_| bad())?,
        Some(p.parse().map_err(|_| bad())?),
    ))
}

#[derive(Default)]
struct Rule {
    add_service: bool,
    key: Option<ServiceKey>,
    v6: bool,
    fwmark: Option<u32>,
    scheduler: Option<Scheduler>,
    sched_flags: Vec<String>,
    persistent: Option<Duration>,
    netmask: Option<String>,
    pe: Option<String>,
    one_packet: bool,
    real: Option<(IpAddr, Option<u16>)>,
    fwd: Option<char>,
    weight: Option<u32>,
    upper: Option<u32>,
    lower: Option<u32>,
    tun_type: Option<String>,
    tun_port: Option<u16>,
    tun_csum: Option<TunnelChecksum>,
}

fn num<T: std::str::FromStr>(v: Option<&str>, what: &str) -> Result<T, String> {
    let v = v.ok_or_else(|| format!("{what} needs a value"))?;
    v.parse().map_err(|_| format!("bad {what} {v:?}"))
}

fn parse_rule(line: &str) -> Result<Rule, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut r = Rule::default();
    let mut i = 0;
    let mut svc_addr: Option<(Protocol, &str)> = None;
    while i < words.len() {
        let w = words[i];
        let val = words.get(i + 1).copied();
        let mut used = 1;
        match w {
            "-A" | "--add-service" => r.add_service = true,
            "-a" | "--add-server" => r.add_service = false,
            "-t" | "--tcp-service" => {
                (svc_addr, used) = (Some((Protocol::Tcp, val.unwrap_or(""))), 2)
            }
            "-u" | "--udp-service" => {
                (svc_addr, used) = (Some((Protocol::Udp, val.unwrap_or(""))), 2)
            }
            "--sctp-service" => (svc_addr, used) = (Some((Protocol::Sctp, val.unwrap_or(""))), 2),
            "-f" | "--fwmark-service" => (r.fwmark, used) = (Some(num(val, "fwmark")?), 2),
            "-6" | "--ipv6" => r.v6 = true,
            "-s" | "--scheduler" => {
                r.scheduler = Some(Scheduler::from_name(val.ok_or("-s needs a value")?));
                used = 2;
            }
            "-b" | "--sched-flags" => {
                let v = val.ok_or("-b needs a value")?;
                r.sched_flags = v.split(',').map(str::to_owned).collect();
                used = 2;
            }
            "-p" | "--persistent" => match val.and_then(|v| v.parse::<u64>().ok()) {
                Some(t) => (r.persistent, used) = (Some(Duration::from_secs(t)), 2),
                None => r.persistent = Some(DEFAULT_PERSISTENCE),
            },
            "-M" | "--netmask" => {
                r.netmask = Some(val.ok_or("-M needs a value")?.to_owned());
                used = 2;
            }
            "--pe" => (r.pe, used) = (Some(val.ok_or("--pe needs a value")?.to_owned()), 2),
            "-o" | "--ops" => r.one_packet = true,
            "-r" | "--real-server" => {
                r.real = Some(parse_host(val.ok_or("-r needs a value")?, "real server")?);
                used = 2;
            }
            "-g" | "--gatewaying" => r.fwd = Some('g'),
            "-i" | "--ipip" => r.fwd = Some('i'),
            "-m" | "--masquerading" => r.fwd = Some('m'),
            "-w" | "--weight" => (r.weight, used) = (Some(num(val, "weight")?), 2),
            "-x" | "--u-threshold" => (r.upper, used) = (Some(num(val, "upper threshold")?), 2),
            "-y" | "--l-threshold" => (r.lower, used) = (Some(num(val, "lower threshold")?), 2),
            "--tun-type" => {
                r.tun_type = Some(val.ok_or("--tun-type needs a value")?.to_owned());
                used = 2;
            }
            "--tun-port" => (r.tun_port, used) = (Some(num(val, "tunnel port")?), 2),
            "--tun-nocsum" => r.tun_csum = Some(TunnelChecksum::None),
            "--tun-csum" => r.tun_csum = Some(TunnelChecksum::Checksum),
            "--tun-remcsum" => r.tun_csum = Some(TunnelChecksum::Remote),
            other => return Err(format!("unsupported option {other:?}")),
        }
        i += used;
    }
    r.key = match (svc_addr, r.fwmark) {
        (Some((protocol, a)), None) => {
            let (addr, port) = parse_host(a, "service")?;
            Some(ServiceKey::Addr {
                addr,
                protocol,
                port: port.unwrap_or(0),
            })
        }
        (None, Some(mark)) => Some(ServiceKey::Fwmark {
            family: if r.v6 { Family::V6 } else { Family::V4 },
            mark,
        }),
        _ => return Err("exactly one of -t, -u, --sctp-service, -f is needed".into()),
    };
    Ok(r)
}

fn build_service(r: &Rule, key: ServiceKey) -> Result<Service, String> {
    let mut svc = Service::new(key, r.scheduler.clone().unwrap_or(Scheduler::Wlc));
    let names = sched_flag_names(&svc.scheduler);
    for f in &r.sched_flags {
        let f = f.as_str();
        if f == names[0] || f == "flag-1" {
            svc.flags.sched_fallback = true;
        } else if f == names[1] || f == "flag-2" {
            svc.flags.sched_port = true;
        } else if f == names[2] {
            svc.flags.sched_flag3 = true;
        } else {
            return Err(format!("unknown scheduler flag {f:?}"));
        }
    }
    if let Some(t) = r.persistent {
        svc = svc.persistent(t);
    }
    if let Some(m) = &r.netmask {
        svc.netmask = match key.family() {
            Family::V4 => Netmask::V4(m.parse().map_err(|_| format!("bad netmask {m:?}"))?),
            Family::V6 => Netmask::V6(m.parse().map_err(|_| format!("bad prefix {m:?}"))?),
        };
    }
    svc.pe = r.pe.as_deref().map(PersistenceEngine::from_name);
    svc.flags.one_packet = r.one_packet;
    Ok(svc)
}

fn build_dest(r: &Rule, key: &ServiceKey) -> Result<Destination, String> {
    let (addr, port) = r.real.ok_or("-a needs -r")?;
    let port = port.unwrap_or(match key {
        ServiceKey::Addr { port, .. } => *port,
        ServiceKey::Fwmark { .. } => 0,
    });
    let checksum = r.tun_csum.unwrap_or_default();
    let fwd = match r.fwd.unwrap_or('g') {
        'm' => ForwardMethod::Masquerade,
        'i' => ForwardMethod::Tunnel(match r.tun_type.as_deref().unwrap_or("ipip") {
            "ipip" => Tunnel::Ipip,
            "gue" => Tunnel::Gue {
                port: r.tun_port.ok_or("--tun-type gue needs --tun-port")?,
                checksum,
            },
            "gre" => Tunnel::Gre { checksum },
            other => return Err(format!("unknown tunnel type {other:?}")),
        }),
        _ => ForwardMethod::DirectRoute,
    };
    let mut d = Destination::new(addr, port, fwd).with_weight(r.weight.unwrap_or(1));
    d.upper_threshold = r.upper.unwrap_or(0);
    d.lower_threshold = r.lower.unwrap_or(0);
    Ok(d)
}

/// One rule read on its own (no `-A`/`-a` needed): a destination when it has `-r`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule1 {
    /// A service specification.
    Service(Service),
    /// A destination of a service.
    Dest(ServiceKey, Destination),
}

/// Reads one rule given as words (`["-t", "10.0.0.1:80", "-s", "rr"]`), with the
/// same options and defaults as [`parse`]. A leading `-A`/`-a`/`-E`/`-e`/`-D`/`-d` is
/// accepted and ignored: the presence of `-r` decides between service and destination.
pub fn parse_words(words: &[String]) -> Result<Rule1, String> {
    let kept: Vec<&str> = words
        .iter()
        .map(String::as_str)
        .filter(|w| !matches!(*w, "-A" | "-a" | "-E" | "-e" | "-D" | "-d"))
        .collect();
    let r = parse_rule(&kept.join(" "))?;
    let key = r.key.ok_or("no service")?;
    if r.real.is_some() {
        Ok(Rule1::Dest(key, build_dest(&r, &key)?))
    } else {
        Ok(Rule1::Service(build_service(&r, key)?))
    }
}

/// Reads `-A`/`-a` rules into desired services, in the order their `-A` rules appear.
/// A destination's service must have been added by an earlier line.
pub fn parse(text: &str) -> Result<Vec<DesiredService>, ParseError> {
    let mut out: Vec<DesiredService> = Vec::new();
    let mut index: std::collections::HashMap<ServiceKey, usize> = Default::default();
    for (n, line) in text.lines().enumerate() {
        let err = |reason: String| ParseError {
            line: n + 1,
            reason,
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let r = parse_rule(line).map_err(err)?;
        let key = r.key.ok_or_else(|| err("no service".into()))?;
        if r.add_service {
            if index.insert(key, out.len()).is_some() {
                return Err(err("service added twice".into()));
            }
            out.push(DesiredService {
                service: build_service(&r, key).map_err(err)?,
                dests: Vec::new(),
            });
        } else {
            let dest = build_dest(&r, &key).map_err(err)?;
            let at = *index
                .get(&key)
                .ok_or_else(|| err("destination before its service".into()))?;
            out[at].dests.push(dest);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &str = "\
-A -t 10.0.0.5:0 -s wlc -p 300 -M 255.255.255.0
-A -t 10.0.0.5:80 -s sh -b sh-fallback,sh-port
-a -t 10.0.0.5:80 -r 10.0.0.2:8080 -m -w 0
-a -t 10.0.0.5:80 -r 10.0.0.3:80 -g -w 1
-a -t 10.0.0.5:80 -r 10.0.0.4:80 -i -w 1 --tun-type gre --tun-nocsum
-a -t 10.0.0.5:80 -r 10.0.0.6:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum
-a -t 10.0.0.5:80 -r 10.0.0.7:80 -i -w 1 --tun-type gue --tun-port 6081 --tun-remcsum
-a -t 10.0.0.5:80 -r 10.0.0.8:80 -i -w 1 --tun-type ipip
-A --sctp-service 10.0.0.9:3868 -s nq
-A -u [2001:db8::1]:53 -s rr -p 60 -M 64 --pe sip
-a -u [2001:db8::1]:53 -r [2001:db8::2]:53 -m -w 1
-A -u [2001:db8::1]:54 -s sh -p 30 -M 64 --pe sip -o -b sh-fallback
-A -u [2001:db8::1]:55 -s rr -b flag-1,flag-2,flag-3
-A -f 7 -s mh -b mh-port
-a -f 7 -r [2001:db8::9]:0 -i -w 1 --tun-type ipip
-A -f 8 -6 -s lc -o
-a -f 8 -6 -r [2001:db8::5]:0 -g -w 3
";

    fn snapshot(desired: Vec<DesiredService>) -> Snapshot {
        crate::reconcile::desired_snapshot(desired)
    }

    /// Output captured from `ipvsadm -Sn` (1.31, Linux 6.1) reads back and writes out
    /// byte for byte, whatever the order of the input.
    #[test]
    fn ipvsadm_output_round_trips() {
        let desired = parse(RULES).unwrap();
        assert_eq!(desired.len(), 8);
        let mut shuffled = desired.clone();
        shuffled.reverse();
        assert_eq!(save(&snapshot(shuffled)), RULES);
    }

    #[test]
    fn defaults_follow_ipvsadm() {
        let d = parse("-A -t 10.1.1.1:80 -p\n-a -t 10.1.1.1:80 -r 10.2.2.2 -x 5 -y 2\n").unwrap();
        assert_eq!(d[0].service.scheduler, Scheduler::Wlc);
        assert_eq!(d[0].service.timeout, DEFAULT_PERSISTENCE);
        let dest = d[0].dests[0];
        assert_eq!(dest.key.port, 80);
        assert_eq!(dest.fwd, ForwardMethod::DirectRoute);
        assert_eq!(
            (dest.weight, dest.upper_threshold, dest.lower_threshold),
            (1, 5, 2)
        );
    }

    #[test]
    fn one_rule_from_words() {
        let w = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
        match parse_words(&w("-t 10.1.1.1:80 -r 10.2.2.2:81 -m -w 3")).unwrap() {
            Rule1::Dest(k, d) => {
                assert_eq!(service_spec(&k), "-t 10.1.1.1:80");
                assert_eq!(
                    (d.key.port, d.weight, d.fwd),
                    (81, 3, ForwardMethod::Masquerade)
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_words(&w("-A -f 9 -6 -s rr")).unwrap(),
            Rule1::Service(s) if s.key.family() == Family::V6
        ));
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("\n-a -t 10.1.1.1:80 -r 10.2.2.2\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(parse("-A -t 10.1.1.1:80 --bogus").is_err());
        assert!(parse("-A -t nonsense -s rr").is_err());
        assert!(parse("-A -s rr").is_err());
    }

    /// `ipvsadm` compares addresses as C ints of `ntohl(a) - ntohl(b)`.
    #[test]
    fn service_order_wraps_like_ipvsadm() {
        let k = |a: &str| ServiceKey::Addr {
            addr: a.parse().unwrap(),
            protocol: Protocol::Tcp,
            port: 80,
        };
        assert!(service_cmp(&k("10.0.0.1"), &k("10.0.0.2")) < 0);
        assert!(service_cmp(&k("10.0.0.1"), &k("198.51.100.1")) > 0);
        // A cycle: 0.0.0.1 < 100.0.0.0 < 200.0.0.0 < 0.0.0.1. The sort is still
        // defined: glibc's merge order, no panic.
        assert!(service_cmp(&k("0.0.0.1"), &k("100.0.0.0")) < 0);
        assert!(service_cmp(&k("100.0.0.0"), &k("200.0.0.0")) < 0);
        assert!(service_cmp(&k("200.0.0.0"), &k("0.0.0.1")) < 0);
        let mut keys = vec![k("200.0.0.0"), k("0.0.0.1"), k("100.0.0.0"), k("150.0.0.0")];
        c_msort(&mut keys, &service_cmp);
        // Halves [200, 0.0.0.1] -> [200, 0.0.0.1]; [100, 150] -> [100, 150]; merge:
        // 200 vs 100 (200 > 100) takes 100, 200 vs 150 takes 150, then 200, 0.0.0.1.
        let want = [k("100.0.0.0"), k("150.0.0.0"), k("200.0.0.0"), k("0.0.0.1")];
        assert_eq!(keys, want);
    }
}
