use super::*;
use crate::pool::PoolController;
use ha_core::conf::{Options, parse_str};

fn conf(text: &str) -> Config {
    parse_str(text, &Options::default()).expect("grammar")
}

fn mapped(text: &str) -> KeepalivedIpvs {
    let m = map(&conf(text)).expect("maps");
    for vs in &m.virtual_servers {
        for pool in &vs.pools {
            PoolController::new(pool.clone()).expect("every mapped pool runs");
        }
    }
    m
}

fn map_err(text: &str) -> MapError {
    map(&conf(text)).expect_err("must not map")
}

/// A virtual server block with `body` and one real server.
fn vs(body: &str) -> String {
    format!(
        "virtual_server 192.0.2.1 80 {{\n protocol TCP\n{body}\n real_server 10.0.0.1 80 {{\n }}\n}}\n"
    )
}

fn one(text: &str) -> (VirtualServerConf, Vec<Warning>) {
    let m = mapped(text);
    assert_eq!(m.virtual_servers.len(), 1, "{:?}", m.warnings);
    (m.virtual_servers[0].clone(), m.warnings)
}

fn quiet(text: &str) -> VirtualServerConf {
    let (v, w) = one(text);
    assert!(w.is_empty(), "unexpected warnings: {w:?}");
    v
}

fn warned(text: &str, needle: &str) -> VirtualServerConf {
    let (v, w) = one(text);
    assert!(
        w.iter().any(|w| w.message.contains(needle)),
        "no warning containing {needle:?} in {w:?}"
    );
    v
}

fn svc(v: &VirtualServerConf) -> &Service {
    &v.pools[0].service
}

fn addr_key(ip: &str, port: u16, protocol: Protocol) -> ServiceKey {
    ServiceKey::Addr {
        addr: ip.parse().unwrap(),
        protocol,
        port,
    }
}

#[test]
fn plain_virtual_server_defaults() {
    let v = quiet(&vs(""));
    assert_eq!(v.name, "192.0.2.1:80/TCP");
    assert_eq!(v.span.line, 1);
    assert_eq!(v.node.keyword, "virtual_server");
    assert_eq!(v.pools.len(), 1);
    let p = &v.pools[0];
    assert_eq!(p.service.key, addr_key("192.0.2.1", 80, Protocol::Tcp));
    assert_eq!(p.service.scheduler, Scheduler::Wlc);
    assert!(!p.service.flags.persistent);
    assert_eq!((p.quorum, p.hysteresis), (1, 0));
    assert!(!p.alpha && !p.omega && p.sorry_server.is_none());
    let rs = &p.real_servers[0];
    assert_eq!(rs.dest.fwd, ForwardMethod::Masquerade);
    assert_eq!(rs.dest.weight, 1);
    assert_eq!(rs.dest.key.port, 80);
    assert!(!rs.inhibit_on_failure);
    assert_eq!(v.real_servers[0].address, "10.0.0.1:80".parse().unwrap());
    assert_eq!(v.real_servers[0].span.line, 4);
}

#[test]
fn schedulers() {
    for name in [
        "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh",
        "twos",
    ] {
        for kw in ["lvs_sched", "lb_algo"] {
            let v = quiet(&vs(&format!("{kw} {name}")));
            assert_eq!(svc(&v).scheduler.name(), name);
        }
    }
}

#[test]
fn unknown_scheduler_is_an_error_with_its_location() {
    let e = map_err(&vs("lb_algo loadbalance"));
    assert_eq!((e.span.line, e.span.col), (3, 1));
    assert!(e.message.contains("unknown scheduler"), "{e}");
    assert!(map_err(&vs("lvs_sched none")).message.contains("none"));
    assert!(map_err(&vs("lvs_sched")).message.contains("needs a value"));
}

#[test]
fn scheduler_flags() {
    let f = svc(&quiet(&vs("lvs_sched sh\nsh-port\nsh-fallback"))).flags;
    assert!(f.sched_port && f.sched_fallback && !f.sched_flag3);
    let f = svc(&quiet(&vs("mh-fallback\nlvs_sched mh"))).flags;
    assert!(f.sched_fallback && !f.sched_port);
    let f = svc(&quiet(&vs("lvs_sched mh\nmh-port"))).flags;
    assert!(f.sched_port && !f.sched_fallback);
    let f = svc(&quiet(&vs("lvs_sched rr\nflag-1\nflag-2\nflag-3"))).flags;
    assert!(f.sched_fallback && f.sched_port && f.sched_flag3);
    // sh-port with another scheduler: ignored with a warning.
    let v = warned(
        &vs("lvs_sched rr\nsh-port"),
        "only applies to the sh scheduler",
    );
    assert!(!svc(&v).flags.sched_port);
    let v = warned(
        &vs("lvs_sched sh\nmh-fallback"),
        "only applies to the mh scheduler",
    );
    assert!(!svc(&v).flags.sched_fallback);
    warned(&vs("hashed"), "kernel-internal");
}

#[test]
fn forwarding_methods() {
    for (kw, text, fwd) in [
        ("lvs_method", "NAT", ForwardMethod::Masquerade),
        ("lb_kind", "DR", ForwardMethod::DirectRoute),
        ("lvs_method", "TUN", ForwardMethod::Tunnel(Tunnel::Ipip)),
        (
            "lvs_method",
            "TUN type ipip",
            ForwardMethod::Tunnel(Tunnel::Ipip),
        ),
        (
            "lvs_method",
            "TUN type gue port 6080",
            ForwardMethod::Tunnel(Tunnel::Gue {
                port: 6080,
                checksum: TunnelChecksum::None,
            }),
        ),
        (
            "lvs_method",
            "TUN type gue port 6080 remcsum",
            ForwardMethod::Tunnel(Tunnel::Gue {
                port: 6080,
                checksum: TunnelChecksum::Remote,
            }),
        ),
        (
            "lvs_method",
            "TUN type gre csum",
            ForwardMethod::Tunnel(Tunnel::Gre {
                checksum: TunnelChecksum::Checksum,
            }),
        ),
        (
            "lvs_method",
            "TUN type gre nocsum",
            ForwardMethod::Tunnel(Tunnel::Gre {
                checksum: TunnelChecksum::None,
            }),
        ),
    ] {
        let v = quiet(&vs(&format!("{kw} {text}")));
        assert_eq!(v.pools[0].real_servers[0].dest.fwd, fwd, "{text}");
    }
}

#[test]
fn bad_forwarding_methods() {
    for text in [
        "lvs_method",
        "lvs_method FOO",
        "lvs_method NAT extra",
        "lvs_method TUN ipip",
        "lvs_method TUN type",
        "lvs_method TUN type vxlan",
        "lvs_method TUN type gue",
        "lvs_method TUN type gue port",
        "lvs_method TUN type gue port 0",
        "lvs_method TUN type gue port 99999",
        "lvs_method TUN type ipip csum",
        "lvs_method TUN type gre remcsum",
        "lvs_method TUN type gre csum more",
        "lvs_method TUN type gre bogus",
    ] {
        let e = map_err(&vs(text));
        assert_eq!(e.span.line, 3, "{text}: {e}");
    }
}

#[test]
fn real_server_overrides_the_method() {
    let text = "virtual_server 192.0.2.1 80 {\n protocol TCP\n lvs_method DR\n real_server 10.0.0.1 80 {\n  lvs_method TUN type gre\n }\n real_server 10.0.0.2 80 {\n  lb_kind NAT\n }\n real_server 10.0.0.3 80 {\n }\n}\n";
    let v = quiet(text);
    let fwd: Vec<_> = v.pools[0].real_servers.iter().map(|r| r.dest.fwd).collect();
    assert_eq!(
        fwd,
        vec![
            ForwardMethod::Tunnel(Tunnel::Gre {
                checksum: TunnelChecksum::None
            }),
            ForwardMethod::Masquerade,
            ForwardMethod::DirectRoute
        ]
    );
}

#[test]
fn protocols() {
    for (p, want) in [
        ("TCP", Protocol::Tcp),
        ("udp", Protocol::Udp),
        ("SCTP", Protocol::Sctp),
    ] {
        let text = format!(
            "virtual_server 192.0.2.1 53 {{\n protocol {p}\n real_server 10.0.0.1 53 {{\n }}\n}}\n"
        );
        let v = quiet(&text);
        assert_eq!(svc(&v).key, addr_key("192.0.2.1", 53, want));
    }
    let e = map_err("virtual_server 192.0.2.1 80 {\n protocol ICMP\n real_server 10.0.0.1 80\n}\n");
    assert_eq!(e.span.line, 2);
}

#[test]
fn no_protocol_means_udp_with_a_warning() {
    let (v, w) = one("virtual_server 192.0.2.1 80 {\n real_server 10.0.0.1 80\n}\n");
    assert_eq!(svc(&v).key, addr_key("192.0.2.1", 80, Protocol::Udp));
    assert!(w[0].message.contains("no protocol"), "{w:?}");
    assert_eq!(v.name, "192.0.2.1:80/UDP");
}

#[test]
fn persistence() {
    let s = svc(&quiet(&vs("persistence_timeout 600"))).clone();
    assert!(s.flags.persistent);
    assert_eq!(s.timeout, Duration::from_secs(600));
    let s = svc(&quiet(&vs("persistence_timeout"))).clone();
    assert_eq!(s.timeout, DEFAULT_PERSISTENCE_TIMEOUT);
    let s = svc(&warned(&vs("persistence_timeout 0"), "not persistent")).clone();
    assert!(!s.flags.persistent);
    assert!(
        map_err(&vs("persistence_timeout soon"))
            .message
            .contains("soon")
    );
    // Granularity alone makes the service persistent, as in keepalived.
    let s = svc(&quiet(&vs("persistence_granularity 255.255.255.0"))).clone();
    assert!(s.flags.persistent);
    assert_eq!(s.netmask, Netmask::V4("255.255.255.0".parse().unwrap()));
    assert_eq!(s.timeout, DEFAULT_PERSISTENCE_TIMEOUT);
    let s = svc(&quiet(&vs(
        "persistence_engine sip\npersistence_timeout 30",
    )))
    .clone();
    assert_eq!(s.pe, Some(PersistenceEngine::Sip));
    for bad in [
        "persistence_granularity 255.0.255.0",
        "persistence_granularity 0.0.0.0",
        "persistence_granularity 300.0.0.0",
        "persistence_granularity 0",
        "persistence_granularity 129",
        "persistence_engine averyveryverylongname",
    ] {
        assert_eq!(map_err(&vs(bad)).span.line, 3, "{bad}");
    }
}

#[test]
fn ipv6_virtual_server_with_prefix_granularity() {
    let v = quiet(
        "virtual_server 2001:db8::1 443 {\n protocol TCP\n persistence_granularity 64\n real_server 2001:db8::10 443 {\n }\n}\n",
    );
    assert_eq!(v.name, "[2001:db8::1]:443/TCP");
    assert_eq!(svc(&v).netmask, Netmask::V6(64));
    // An IPv4 netmask on an IPv6 service is not applied.
    warned(
        "virtual_server 2001:db8::1 443 {\n protocol TCP\n persistence_granularity 255.255.0.0\n real_server 2001:db8::10 443\n}\n",
        "not applied",
    );
}

#[test]
fn port_zero_makes_the_service_persistent() {
    let v = warned(
        "virtual_server 192.0.2.1 0 {\n protocol TCP\n lvs_method DR\n real_server 10.0.0.1 {\n }\n}\n",
        "port 0",
    );
    assert!(svc(&v).flags.persistent);
    // A port-less virtual server too.
    let v = warned(
        "virtual_server 192.0.2.1 {\n protocol TCP\n real_server 10.0.0.1\n}\n",
        "port 0",
    );
    assert_eq!(svc(&v).key, addr_key("192.0.2.1", 0, Protocol::Tcp));
    assert!(svc(&v).flags.persistent);
}

#[test]
fn ops_only_for_udp() {
    let v =
        quiet("virtual_server 192.0.2.1 53 {\n protocol UDP\n ops\n real_server 10.0.0.1 53\n}\n");
    assert!(svc(&v).flags.one_packet);
    let v = warned(&vs("ops"), "one-packet scheduling needs UDP");
    assert!(!svc(&v).flags.one_packet);
    let v = quiet("virtual_server fwmark 3 {\n ops\n real_server 10.0.0.1 53\n}\n");
    assert!(svc(&v).flags.one_packet);
}

#[test]
fn fwmark_virtual_server() {
    let v = quiet("virtual_server fwmark 7 {\n lvs_method DR\n real_server 10.0.0.1 {\n }\n}\n");
    assert_eq!(v.name, "fwmark 7");
    assert_eq!(
        svc(&v).key,
        ServiceKey::Fwmark {
            family: Family::V4,
            mark: 7
        }
    );
    // Non-NAT real servers of a fwmark service have no port (with keepalived's warning
    // when one was given: this one had 80).
    let (v, w) = one("virtual_server fwmark 7 {\n lvs_method DR\n real_server 10.0.0.1 80\n}\n");
    assert_eq!(v.real_servers[0].address.port(), 0);
    assert_eq!(v.pools[0].real_servers[0].dest.key.port, 0);
    assert!(w.iter().any(|w| w.message.contains("port ignored")));
    // NAT keeps the port.
    let v = quiet("virtual_server fwmark 7 {\n real_server 10.0.0.1 8080\n}\n");
    assert_eq!(v.pools[0].real_servers[0].dest.key.port, 8080);
    // Family from the real servers, or ip_family.
    let v = quiet("virtual_server fwmark 7 {\n real_server 2001:db8::1 80\n}\n");
    assert_eq!(svc(&v).key.family(), Family::V6);
    let v = quiet(
        "virtual_server fwmark 7 {\n ip_family inet6\n lvs_method TUN\n real_server 10.0.0.1\n}\n",
    );
    assert_eq!(svc(&v).key.family(), Family::V6);
    let v = quiet("virtual_server fwmark 7 {\n lvs_method TUN\n real_server 2001:db8::1\n}\n");
    assert_eq!(svc(&v).key.family(), Family::V6);
    // A protocol is ignored for a fwmark.
    warned(
        "virtual_server fwmark 7 {\n protocol TCP\n real_server 10.0.0.1 80\n}\n",
        "ignored for a fwmark",
    );
    for bad in [
        "virtual_server fwmark 0 {\n real_server 10.0.0.1 80\n}\n",
        "virtual_server fwmark x {\n real_server 10.0.0.1 80\n}\n",
        "virtual_server fwmark {\n real_server 10.0.0.1 80\n}\n",
        "virtual_server fwmark 1 {\n ip_family ipx\n real_server 10.0.0.1 80\n}\n",
    ] {
        map_err(bad);
    }
}

#[test]
fn ha_suspend() {
    assert!(quiet(&vs("ha_suspend")).ha_suspend);
    let v = warned(
        "virtual_server fwmark 1 {\n ha_suspend\n real_server 10.0.0.1 80\n}\n",
        "ha_suspend cannot be used with fwmarks",
    );
    assert!(!v.ha_suspend);
}

#[test]
fn quorum_hysteresis_and_scripts() {
    let text = "virtual_server 192.0.2.1 80 {\n protocol TCP\n quorum 3\n hysteresis 1\n quorum_up \"/bin/up --all\"\n quorum_down /bin/down\n real_server 10.0.0.1 80 {\n  weight 2\n }\n real_server 10.0.0.2 80 {\n  weight 2\n }\n}\n";
    let v = quiet(text);
    assert_eq!((v.pools[0].quorum, v.pools[0].hysteresis), (3, 1));
    assert_eq!(v.quorum_up.as_deref(), Some("/bin/up --all"));
    assert_eq!(v.quorum_down.as_deref(), Some("/bin/down"));
    // A script's user and group are not supported.
    let v = warned(&vs("quorum_up /bin/up nobody nogroup"), "as user/group");
    assert_eq!(v.quorum_up.as_deref(), Some("/bin/up"));
    // Corrections keepalived makes.
    let v = warned(&vs("quorum 5"), "exceeds the total weight");
    assert_eq!(v.pools[0].quorum, 1);
    let v = warned(&vs("hysteresis 4"), "not below the quorum");
    assert_eq!(v.pools[0].hysteresis, 0);
    let v = warned(&vs("quorum 0"), "at least 1");
    assert_eq!(v.pools[0].quorum, 1);
    assert_eq!(map_err(&vs("quorum many")).span.line, 3);
    assert_eq!(map_err(&vs("hysteresis -1")).span.line, 3);
    assert_eq!(map_err(&vs("quorum_up")).span.line, 3);
}

#[test]
fn quorum_above_a_zero_total_weight_stays_runnable() {
    let v = warned(
        "virtual_server 192.0.2.1 80 {\n protocol TCP\n quorum 2\n real_server 10.0.0.1 80 {\n  weight 0\n }\n}\n",
        "exceeds the total weight",
    );
    assert_eq!(v.pools[0].quorum, 1);
}

#[test]
fn alpha_omega_inhibit_and_default_weight() {
    let text = "virtual_server 192.0.2.1 80 {\n protocol TCP\n alpha\n omega\n inhibit_on_failure\n weight 5\n real_server 10.0.0.1 80 {\n }\n real_server 10.0.0.2 80 {\n  inhibit_on_failure off\n  weight 2\n }\n}\n";
    let v = quiet(text);
    let p = &v.pools[0];
    assert!(p.alpha && p.omega);
    assert!(p.real_servers[0].inhibit_on_failure);
    assert!(!p.real_servers[1].inhibit_on_failure);
    assert_eq!(p.real_servers[0].dest.weight, 5);
    assert_eq!(p.real_servers[1].dest.weight, 2);
    assert!(v.real_servers.iter().all(|r| r.alpha));
    let v = quiet(&vs("alpha off\nomega no"));
    assert!(!v.pools[0].alpha && !v.pools[0].omega);
    assert!(!v.real_servers[0].alpha);
    let v = quiet(
        "virtual_server 192.0.2.1 80 {\n protocol TCP\n alpha\n real_server 10.0.0.1 80 {\n  alpha off\n }\n}\n",
    );
    assert!(v.pools[0].alpha && !v.real_servers[0].alpha);
    assert_eq!(map_err(&vs("alpha maybe")).span.line, 3);
    assert_eq!(map_err(&vs("weight -1")).span.line, 3);
}

#[test]
fn real_server_keywords() {
    let text = "virtual_server 192.0.2.1 80 {\n protocol TCP\n real_server 10.0.0.1 80 {\n  weight 7\n  uthreshold 100\n  lthreshold 10\n  inhibit_on_failure\n  notify_up \"/bin/rs up\"\n  notify_down /bin/rs-down\n  alpha\n  delay_loop 3\n  connect_timeout 2\n  retry 3\n  delay_before_retry 1\n  warmup 0\n  virtualhost example.org\n  HTTP_GET {\n   url {\n    path /\n   }\n  }\n  TCP_CHECK {\n  }\n  SSL_GET {\n  }\n  SMTP_CHECK {\n  }\n  DNS_CHECK {\n  }\n  MISC_CHECK {\n  }\n  FILE_CHECK {\n  }\n  UDP_CHECK {\n  }\n  PING_CHECK {\n  }\n  BFD_CHECK {\n  }\n }\n}\n";
    let v = quiet(text);
    let d = &v.pools[0].real_servers[0];
    assert_eq!(d.dest.weight, 7);
    assert_eq!((d.dest.upper_threshold, d.dest.lower_threshold), (100, 10));
    assert!(d.inhibit_on_failure);
    let rs = &v.real_servers[0];
    assert_eq!(rs.notify_up.as_deref(), Some("/bin/rs up"));
    assert_eq!(rs.notify_down.as_deref(), Some("/bin/rs-down"));
    assert!(rs.alpha && !v.pools[0].alpha);
    assert_eq!(rs.node.children.len(), 23);
    for bad in [
        "weight x",
        "uthreshold -3",
        "lthreshold",
        "inhibit_on_failure perhaps",
        "notify_up",
        "alpha 2",
    ] {
        let text = format!(
            "virtual_server 192.0.2.1 80 {{\n protocol TCP\n real_server 10.0.0.1 80 {{\n  {bad}\n }}\n}}\n"
        );
        assert_eq!(map_err(&text).span.line, 4, "{bad}");
    }
}

#[test]
fn checker_timing_on_the_virtual_server_is_silent() {
    let v = quiet(&vs(
        "delay_loop 6\nconnect_timeout 3\nretry 2\ndelay_before_retry 1\nwarmup 5\nvirtualhost www.example.org",
    ));
    assert!(v.node.child("delay_loop").is_some());
}

#[test]
fn unknown_and_unsupported_keywords_warn_with_their_location() {
    let (_, w) = one(&vs(
        "frobnicate 1\nsmtp_alert\nsnmp_name web\nnat_mask 255.255.255.0",
    ));
    let lines: Vec<_> = w.iter().map(|w| (w.span.line, w.message.clone())).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0].0, 3);
    assert!(lines[0].1.contains("unknown keyword frobnicate"));
    assert!(lines[1].1.contains("snmp_name is not supported"));
    assert_eq!(lines[2].0, 6);
    let (_, w) = one(
        "virtual_server 192.0.2.1 80 {\n protocol TCP\n real_server 10.0.0.1 80 {\n  bogus\n  smtp_alert on\n }\n}\n",
    );
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].span.line, 4);
    assert!(w[0].to_string().starts_with("<string>:4:"), "{}", w[0]);
    // A checker written on the virtual server is misplaced.
    warned(&vs("TCP_CHECK {\n}"), "belongs in a real_server");
    // Extra arguments.
    warned(&vs("lvs_sched rr extra"), "extra arguments");
    let (_, w) =
        one("virtual_server 192.0.2.1 80 extra {\n protocol TCP\n real_server 10.0.0.1 80\n}\n");
    assert!(w[0].message.contains("extra"), "{w:?}");
}

#[test]
fn real_server_ports_follow_keepalived() {
    // A port-less real server takes the virtual server's port.
    let v = quiet("virtual_server 192.0.2.1 80 {\n protocol TCP\n real_server 10.0.0.1\n}\n");
    assert_eq!(v.real_servers[0].address, "10.0.0.1:80".parse().unwrap());
    assert_eq!(v.pools[0].real_servers[0].dest.key.port, 80);
    // NAT may map to another port.
    let v = quiet("virtual_server 192.0.2.1 80 {\n protocol TCP\n real_server 10.0.0.1 8080\n}\n");
    assert_eq!(v.pools[0].real_servers[0].dest.key.port, 8080);
    // DR may not: the virtual server's port wins, with a warning.
    let v = warned(
        "virtual_server 192.0.2.1 80 {\n protocol TCP\n lvs_method DR\n real_server 10.0.0.1 8080\n}\n",
        "differs from the virtual server's",
    );
    assert_eq!(v.real_servers[0].address.port(), 80);
    assert_eq!(v.pools[0].real_servers[0].dest.key.port, 80);
}

#[test]
fn duplicate_real_servers_are_removed() {
    let v = warned(
        "virtual_server 192.0.2.1 80 {\n protocol TCP\n real_server 10.0.0.1 80\n real_server 10.0.0.2 80\n real_server 10.0.0.1 80 {\n  weight 9\n }\n}\n",
        "duplicate",
    );
    assert_eq!(v.real_servers.len(), 2);
    assert_eq!(v.pools[0].real_servers.len(), 2);
    assert_eq!(v.pools[0].real_servers[0].dest.weight, 1);
}

#[test]
fn virtual_server_without_real_servers_is_left_out() {
    let m =
        mapped("virtual_server 192.0.2.1 80 {\n protocol TCP\n}\nvirtual_server 192.0.2.2 80\n");
    assert!(m.virtual_servers.is_empty());
    assert_eq!(m.warnings.len(), 2);
    assert!(m.warnings[0].message.contains("no real servers"));
    assert_eq!(m.warnings[1].span.line, 4);
}

#[test]
fn sorry_server() {
    let text = "virtual_server 192.0.2.1 80 {\n protocol TCP\n lvs_method DR\n sorry_server 10.0.0.99 80\n sorry_server_inhibit\n sorry_server_lvs_method NAT\n real_server 10.0.0.1 80\n}\n";
    let v = quiet(text);
    let p = &v.pools[0];
    let s = p.sorry_server.expect("sorry server");
    assert_eq!(
        s.key,
        DestinationKey {
            addr: "10.0.0.99".parse().unwrap(),
            port: 80
        }
    );
    assert_eq!(s.fwd, ForwardMethod::Masquerade);
    assert!(p.sorry_server_inhibit);
    // Defaults: the virtual server's port and method.
    let v = quiet(&vs("lvs_method DR\nsorry_server 10.0.0.99"));
    let s = v.pools[0].sorry_server.unwrap();
    assert_eq!((s.key.port, s.fwd), (80, ForwardMethod::DirectRoute));
    // A sorry server that is also a real server cannot be run by the pool controller.
    let v = warned(&vs("sorry_server 10.0.0.1 80"), "also a real server");
    assert!(v.pools[0].sorry_server.is_none());
    warned(&vs("sorry_server_lvs_method DR"), "without sorry_server");
    for bad in [
        "sorry_server",
        "sorry_server nowhere 80",
        "sorry_server 10.0.0.9 http",
        "sorry_server_lvs_method XX",
        "sorry_server_inhibit sometimes",
    ] {
        assert_eq!(map_err(&vs(bad)).span.line, 3, "{bad}");
    }
    let e = map_err(&vs("sorry_server 2001:db8::9 80"));
    assert!(e.message.contains("only a tunnelled sorry server"), "{e}");
}

#[test]
fn address_family_mismatch_is_an_error_unless_tunnelled() {
    let e =
        map_err("virtual_server 192.0.2.1 80 {\n protocol TCP\n real_server 2001:db8::1 80\n}\n");
    assert_eq!(e.span.line, 3);
    assert!(e.message.contains("only tunnelled"), "{e}");
    let v = quiet(
        "virtual_server 192.0.2.1 80 {\n protocol TCP\n lvs_method TUN\n real_server 2001:db8::1 80\n}\n",
    );
    assert_eq!(
        v.pools[0].real_servers[0].dest.key.addr,
        "2001:db8::1".parse::<IpAddr>().unwrap()
    );
}

#[test]
fn bad_addresses_and_ports() {
    for (text, line) in [
        (
            "virtual_server 192.0.2 80 {\n real_server 10.0.0.1 80\n}\n",
            1,
        ),
        (
            "virtual_server 192.0.2.1 80000 {\n real_server 10.0.0.1 80\n}\n",
            1,
        ),
        (
            "virtual_server 192.0.2.1 http {\n real_server 10.0.0.1 80\n}\n",
            1,
        ),
        ("virtual_server {\n real_server 10.0.0.1 80\n}\n", 1),
        (
            "virtual_server 192.0.2.1 80 {\n real_server host.example 80\n}\n",
            2,
        ),
        (
            "virtual_server 192.0.2.1 80 {\n real_server 10.0.0.1 -1\n}\n",
            2,
        ),
        ("virtual_server 192.0.2.1 80 {\n real_server\n}\n", 2),
    ] {
        let e = map_err(text);
        assert_eq!(e.span.line, line, "{text}: {e}");
    }
}

#[test]
fn virtual_server_group_expands_to_one_service_each() {
    let text = "virtual_server_group web {\n 192.0.2.1 80\n 192.0.2.10-12 80\n 2001:db8::1 443\n fwmark 5\n fwmark 6 inet6\n}\nvirtual_server group web {\n protocol TCP\n lvs_method TUN\n real_server 10.0.0.1 80\n real_server 10.0.0.2 80\n}\n";
    let (v, w) = one(text);
    // The DR/TUN real servers take each service's port; the IPv6 one (443) differs.
    assert!(w.iter().all(|w| w.message.contains("port")), "{w:?}");
    assert_eq!(v.name, "group web");
    let keys: Vec<_> = v.pools.iter().map(|p| p.service.key).collect();
    assert_eq!(
        keys,
        vec![
            addr_key("192.0.2.1", 80, Protocol::Tcp),
            addr_key("192.0.2.10", 80, Protocol::Tcp),
            addr_key("192.0.2.11", 80, Protocol::Tcp),
            addr_key("192.0.2.12", 80, Protocol::Tcp),
            addr_key("2001:db8::1", 443, Protocol::Tcp),
            ServiceKey::Fwmark {
                family: Family::V4,
                mark: 5
            },
            ServiceKey::Fwmark {
                family: Family::V6,
                mark: 6
            },
        ]
    );
    for p in &v.pools {
        assert_eq!(p.real_servers.len(), 2);
    }
    assert_eq!(v.pools[4].real_servers[0].dest.key.port, 443);
    assert_eq!(v.pools[5].real_servers[0].dest.key.port, 0);
    // destinations() lines a real server up with each pool.
    let d: Vec<_> = v.destinations(1).collect();
    assert_eq!(d.len(), 7);
    assert_eq!(
        d[3],
        (
            3,
            DestinationKey {
                addr: "10.0.0.2".parse().unwrap(),
                port: 80
            }
        )
    );
    let vips: Vec<IpAddr> = [
        "192.0.2.1",
        "192.0.2.10",
        "192.0.2.11",
        "192.0.2.12",
        "2001:db8::1",
    ]
    .iter()
    .map(|a| a.parse().unwrap())
    .collect();
    assert_eq!(v.virtual_addresses(), vips);
    // The real server's own address keeps its configured port in a group.
    assert_eq!(v.real_servers[0].address.port(), 80);
}

#[test]
fn group_ranges() {
    let keys = |entry: &str| -> Vec<IpAddr> {
        let text = format!(
            "virtual_server_group g {{\n {entry}\n}}\nvirtual_server group g {{\n protocol TCP\n lvs_method TUN\n real_server 10.0.0.1 80\n}}\n"
        );
        let m = mapped(&text);
        m.virtual_servers[0]
            .pools
            .iter()
            .map(|p| match p.service.key {
                ServiceKey::Addr { addr, .. } => addr,
                ServiceKey::Fwmark { .. } => panic!("fwmark"),
            })
            .collect()
    };
    let ips = |list: &[&str]| -> Vec<IpAddr> { list.iter().map(|s| s.parse().unwrap()).collect() };
    assert_eq!(
        keys("10.0.0.8/30 80"),
        ips(&["10.0.0.8", "10.0.0.9", "10.0.0.10", "10.0.0.11"])
    );
    assert_eq!(keys("10.0.0.5/32 80"), ips(&["10.0.0.5"]));
    assert_eq!(
        keys("10.0.0.254-10.0.1.1 80"),
        ips(&["10.0.0.254", "10.0.0.255", "10.0.1.0", "10.0.1.1"])
    );
    assert_eq!(
        keys("2001:db8::8-a 80"),
        ips(&["2001:db8::8", "2001:db8::9", "2001:db8::a"])
    );
    assert_eq!(
        keys("2001:db8::fffe-2001:db8::1:0 80"),
        ips(&["2001:db8::fffe", "2001:db8::ffff", "2001:db8::1:0"])
    );
    assert_eq!(
        keys("2001:db8::/127 80"),
        ips(&["2001:db8::", "2001:db8::1"])
    );
    // A port-less group entry makes the services persistent.
    let m = mapped(
        "virtual_server_group g {\n 10.0.0.1\n}\nvirtual_server group g {\n protocol TCP\n real_server 10.0.0.9 80\n}\n",
    );
    assert!(m.virtual_servers[0].pools[0].service.flags.persistent);
    assert!(m.warnings.iter().any(|w| w.message.contains("port 0")));
}

#[test]
fn bad_group_ranges_and_groups() {
    for entry in [
        "10.0.0.5-5 80",
        "10.0.0.5-4 80",
        "10.0.0.5-256 80",
        "10.0.0.5-x 80",
        "10.0.0.5-10.0.0.1 80",
        "10.0.0.5-2001:db8::1 80",
        "10.0.0.1/24 80",
        "10.0.0.0/33 80",
        "10.0.0.0/x 80",
        "10.0.0.0/8 80",
        "2001:db8::/64 80",
        "2001:db8::5-3 80",
        "2001:db8::5-fffff 80",
        "10.0.0.300 80",
        "10.0.0.1 http",
        "fwmark 0",
        "fwmark",
        "fwmark 1 ipx",
    ] {
        let text = format!(
            "virtual_server_group g {{\n {entry}\n}}\nvirtual_server group g {{\n protocol TCP\n real_server 10.0.0.1 80\n}}\n"
        );
        let e = map_err(&text);
        assert_eq!(e.span.line, 2, "{entry}: {e}");
    }
    let e = map_err("virtual_server group nope {\n real_server 10.0.0.1 80\n}\n");
    assert!(e.message.contains("no virtual_server_group"), "{e}");
    assert_eq!(e.span.line, 1);
    map_err("virtual_server group {\n real_server 10.0.0.1 80\n}\n");
    map_err("virtual_server_group {\n 10.0.0.1 80\n}\n");
}

#[test]
fn group_warnings() {
    let m = mapped(
        "virtual_server_group g {\n 10.0.0.1 80 extra\n}\nvirtual_server_group g {\n 10.0.0.2 80\n}\nvirtual_server_group empty {\n}\nvirtual_server group g {\n protocol TCP\n real_server 10.0.0.9 80\n}\nvirtual_server group empty {\n real_server 10.0.0.9 80\n}\n",
    );
    let msgs: Vec<_> = m
        .warnings
        .iter()
        .map(|w| (w.span.line, w.message.as_str()))
        .collect();
    assert!(
        msgs.iter().any(|(l, m)| *l == 2 && m.contains("extra")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter()
            .any(|(l, m)| *l == 4 && m.contains("defined twice")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter()
            .any(|(l, m)| *l == 7 && m.contains("no entries")),
        "{msgs:?}"
    );
    // The first definition is used.
    assert_eq!(
        m.virtual_servers[0].pools[0].service.key,
        addr_key("10.0.0.1", 80, Protocol::Tcp)
    );
    // A virtual server on an empty group has no services.
    assert!(m.virtual_servers[1].pools.is_empty());
}

#[test]
fn expansion_is_bounded() {
    let mut text = String::from("virtual_server_group big {\n");
    for i in 0..5 {
        text.push_str(&format!(" 10.{i}.0.0/16 80\n"));
    }
    text.push_str("}\n");
    let e = map_err(&text);
    assert!(e.message.contains("more than"), "{e}");
    // Many virtual servers on one large group.
    let mut text = String::from("virtual_server_group big {\n 10.1.0.0/16 80\n}\n");
    for _ in 0..2 {
        text.push_str("virtual_server group big {\n protocol TCP\n real_server 10.9.0.1 80\n}\n");
    }
    let e = map_err(&text);
    assert!(e.message.contains("more than"), "{e}");
    assert_eq!(e.span.line, 8);
    // Many real servers on a large group.
    let mut text = String::from(
        "virtual_server_group big {\n 10.1.0.0/16 80\n}\nvirtual_server group big {\n protocol TCP\n",
    );
    for i in 0..17 {
        text.push_str(&format!(" real_server 10.9.0.{i} 80\n"));
    }
    text.push_str("}\n");
    let e = map_err(&text);
    assert!(e.message.contains("destinations"), "{e}");
}

#[test]
fn sync_daemon() {
    let m = mapped(
        "global_defs {\n lvs_sync_daemon eth1 inst VI_1 id 9 maxlen 1400 port 8849 ttl 2 group 239.1.1.1\n}\n",
    );
    let s = m.sync_daemon.clone().unwrap();
    assert_eq!(s.interface, "eth1");
    assert_eq!(s.vrrp_instance.as_deref(), Some("VI_1"));
    assert_eq!(
        (s.sync_id, s.max_len, s.port, s.ttl),
        (Some(9), Some(1400), Some(8849), Some(2))
    );
    assert_eq!(s.group, Some("239.1.1.1".parse().unwrap()));
    assert_eq!(s.span.line, 2);
    let d = s.daemon(SyncState::Master, Some(51));
    assert_eq!(
        (d.sync_id, d.mcast_ifn.as_str(), d.state),
        (9, "eth1", SyncState::Master)
    );
    assert_eq!(
        (d.sync_maxlen, d.mcast_port, d.mcast_ttl),
        (Some(1400), Some(8849), Some(2))
    );
    d.to_attrs().expect("a valid daemon");
    // Without inst, without id: the VRID, or 0.
    let s = mapped("global_defs {\n lvs_sync_daemon eth0 VI_2\n}\n")
        .sync_daemon
        .unwrap();
    assert_eq!(s.vrrp_instance.as_deref(), Some("VI_2"));
    assert_eq!(s.daemon(SyncState::Backup, Some(51)).sync_id, 51);
    let s = mapped("global_defs {\n lvs_sync_daemon eth0 id 4\n}\n")
        .sync_daemon
        .unwrap();
    assert_eq!((s.vrrp_instance, s.sync_id), (None, Some(4)));
    let s = mapped("global_defs {\n lvs_sync_daemon eth0\n}\n")
        .sync_daemon
        .unwrap();
    assert_eq!(s.daemon(SyncState::Backup, None).sync_id, 0);
    let m = mapped("global_defs {\n lvs_sync_daemon eth0 VI_1 colour blue\n}\n");
    assert!(m.warnings[0].message.contains("unknown option"));
    for bad in [
        "lvs_sync_daemon",
        "lvs_sync_daemon eth0 inst",
        "lvs_sync_daemon aninterfacenamethatistoolong VI_1",
        "lvs_sync_daemon eth0 VI_1 id 256",
        "lvs_sync_daemon eth0 VI_1 id",
        "lvs_sync_daemon eth0 VI_1 maxlen 0",
        "lvs_sync_daemon eth0 VI_1 maxlen 70000",
        "lvs_sync_daemon eth0 VI_1 port 0",
        "lvs_sync_daemon eth0 VI_1 ttl 0",
        "lvs_sync_daemon eth0 VI_1 group nowhere",
    ] {
        let e = map_err(&format!("global_defs {{\n {bad}\n}}\n"));
        assert_eq!(e.span.line, 2, "{bad}: {e}");
    }
}

#[test]
fn timeouts_and_flush() {
    let m = mapped(
        "global_defs {\n lvs_timeouts tcp 7200 tcpfin 120 udp 300\n lvs_flush\n lvs_flush_on_stop\n router_id x\n vrrp_strict\n}\n",
    );
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    let t = m.timeouts.unwrap();
    assert_eq!(
        (t.tcp, t.tcp_fin, t.udp),
        (
            Duration::from_secs(7200),
            Duration::from_secs(120),
            Duration::from_secs(300)
        )
    );
    assert!(m.flush_on_start);
    assert_eq!(m.flush_on_stop, FlushOnStop::All);
    let m = mapped("global_defs {\n lvs_timeouts udp 10\n lvs_flush_on_stop VS\n}\n");
    assert_eq!(m.timeouts.unwrap().tcp, Duration::ZERO);
    assert_eq!(m.flush_on_stop, FlushOnStop::VirtualServers);
    let m = mapped("");
    assert_eq!(
        (m.timeouts, m.flush_on_start, m.flush_on_stop),
        (None, false, FlushOnStop::Off)
    );
    for bad in [
        "lvs_timeouts",
        "lvs_timeouts tcp",
        "lvs_timeouts tcp x",
        "lvs_timeouts tcp 99999999",
        "lvs_timeouts sctp 5",
        "lvs_flush_on_stop RS",
    ] {
        let e = map_err(&format!("global_defs {{\n {bad}\n}}\n"));
        assert_eq!(e.span.line, 2, "{bad}: {e}");
    }
}

#[test]
fn other_sections_are_not_ours() {
    let m = mapped(
        "vrrp_instance VI_1 {\n state MASTER\n}\nbfd_instance b {\n}\nSSL {\n}\nunknown_section {\n}\n",
    );
    assert!(m.warnings.is_empty() && m.virtual_servers.is_empty());
}

#[test]
fn errors_display_their_location() {
    let e = map_err(&vs("lb_algo nope"));
    assert!(e.to_string().starts_with("<string>:3:1: "), "{e}");
}

#[test]
fn a_large_group_maps() {
    let mut text = String::from(
        "virtual_server_group big {\n 10.1.0.0/20 80\n}\nvirtual_server group big {\n protocol TCP\n lvs_method DR\n",
    );
    for i in 0..16 {
        text.push_str(&format!(" real_server 10.9.0.{i} 80\n"));
    }
    text.push_str("}\n");
    let m = map(&conf(&text)).expect("maps");
    let vs = &m.virtual_servers[0];
    assert_eq!(vs.pools.len(), 4096);
    assert!(vs.pools.iter().all(|p| p.real_servers.len() == 16));
    assert_eq!(vs.virtual_addresses().len(), 4096);
}
