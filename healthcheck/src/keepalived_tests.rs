use super::*;
use ha_core::conf::{Options, parse_str};

fn conf(text: &str) -> Config {
    parse_str(text, &Options::default()).unwrap()
}

fn probe(text: &str) -> (ProbeCheck, Vec<Warning>) {
    let c = conf(text);
    let m = map_checker(&c.nodes[0], &MapContext::default()).unwrap();
    match m.value {
        MappedCheck::Probe(p) => (p, m.warnings),
        other => panic!("{other:?}"),
    }
}

fn err(text: &str) -> MapError {
    let c = conf(text);
    let ctx = MapContext::from_config(&c).unwrap().value;
    let node = c.nodes.iter().find(|n| is_checker(&n.keyword)).unwrap();
    map_checker(node, &ctx).unwrap_err()
}

/// keepalived.conf(5), the `HTTP_GET` example of a real server.
#[cfg(feature = "http")]
#[test]
fn http_get_documented_example() {
    let (p, w) = probe(
        "HTTP_GET {\n\
         \x20 url {\n\
         \x20   path /testurl/test.jsp\n\
         \x20   digest 640205b7b0fc66c1ea91c463fac6334d\n\
         \x20 }\n\
         \x20 url {\n\
         \x20   path /testurl2/test.jsp\n\
         \x20   status_code 200 301-302\n\
         \x20   regex \"^OK\"\n\
         \x20   regex_no_match\n\
         \x20 }\n\
         \x20 connect_timeout 3\n\
         \x20 nb_get_retry 3\n\
         \x20 delay_before_retry 3\n\
         }\n",
    );
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].keyword, "nb_get_retry");
    assert_eq!(w[0].span.line, 13);
    let CheckerConfig::Http { urls, tls, .. } = &p.config.checker else {
        panic!()
    };
    assert!(tls.is_none());
    assert_eq!(urls.len(), 2);
    assert_eq!(
        urls[0].digest.as_deref(),
        Some("640205b7b0fc66c1ea91c463fac6334d")
    );
    assert_eq!(urls[1].status_code.as_deref(), Some("200,301-302"));
    assert!(urls[1].regex_no_match);
    assert_eq!(p.config.connect_timeout, Duration::from_secs(3));
    assert_eq!(p.config.retry, 3);
    assert_eq!(p.config.delay_before_retry, Duration::from_secs(3));
    // keepalived's defaults: warmup on, 60 s loop.
    assert!(p.config.warmup);
    assert_eq!(p.config.delay_loop, Duration::from_secs(60));
}

#[cfg(feature = "tls")]
#[test]
fn ssl_get_uses_global_ssl_block_and_sni() {
    let c = conf(
        "SSL {\n  ca /etc/ca.pem\n  password x\n}\n\
         SSL_GET {\n  url {\n    path /\n  }\n  virtualhost www.example.test\n  enable_sni\n}\n",
    );
    let m = MapContext::from_config(&c).unwrap();
    assert_eq!(m.warnings.len(), 1);
    assert_eq!(m.warnings[0].keyword, "password");
    let got = map_checker(&c.nodes[1], &m.value).unwrap();
    assert!(got.warnings.is_empty(), "{:?}", got.warnings);
    let MappedCheck::Probe(p) = got.value else {
        panic!()
    };
    let CheckerConfig::Http {
        tls: Some(t),
        virtualhost,
        ..
    } = &p.config.checker
    else {
        panic!()
    };
    assert!(t.verify);
    assert_eq!(
        t.ca_file.as_deref(),
        Some(std::path::Path::new("/etc/ca.pem"))
    );
    assert_eq!(t.sni.as_deref(), Some("www.example.test"));
    assert_eq!(virtualhost.as_deref(), Some("www.example.test"));
}

#[test]
fn tcp_check_with_connect_override_and_bind() {
    let (p, w) = probe(
        "TCP_CHECK {\n  connect_ip 10.0.0.5\n  connect_port 8080\n  bind_to 10.0.0.1\n  bind_port 4000\n  connect_timeout 2.5\n  delay_loop 10\n  warmup 0\n  alpha\n}\n",
    );
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(
        p.target("192.0.2.1:80".parse().unwrap()).addr,
        "10.0.0.5:8080".parse().unwrap()
    );
    let CheckerConfig::Tcp { bind_to, .. } = &p.config.checker else {
        panic!()
    };
    assert_eq!(*bind_to, Some("10.0.0.1:4000".parse().unwrap()));
    assert_eq!(p.config.connect_timeout, Duration::from_millis(2500));
    assert_eq!(p.config.delay_loop, Duration::from_secs(10));
    assert!(!p.config.warmup);
    assert!(p.config.alpha);
    assert_eq!(p.config.retry, 0);
}

#[test]
fn unknown_and_unsupported_keywords_warn_with_location() {
    let (_, w) =
        probe("TCP_CHECK {\n  fwmark 7\n  bind_if eth0\n  frobnicate yes\n  warmup 5\n}\n");
    let got: Vec<(String, u32, u32)> = w
        .iter()
        .map(|w| (w.keyword.clone(), w.span.line, w.span.col))
        .collect();
    assert_eq!(
        got,
        vec![
            ("fwmark".into(), 2, 3),
            ("bind_if".into(), 3, 3),
            ("frobnicate".into(), 4, 3),
            ("warmup".into(), 5, 3),
        ]
    );
    assert!(
        w[2].to_string()
            .starts_with("<string>:4:3: frobnicate: unknown")
    );
}

#[test]
fn smtp_check_with_host_block() {
    let (p, w) = probe(
        "SMTP_CHECK {\n  helo_name lb.example.test\n  host {\n    connect_ip 10.0.0.9\n    connect_port 25\n  }\n  host {\n    connect_ip 10.0.0.10\n  }\n}\n",
    );
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].span.line, 7);
    assert_eq!(p.connect_ip, Some("10.0.0.9".parse().unwrap()));
    assert_eq!(p.connect_port, Some(25));
    assert_eq!(p.config.retry, 1);
    assert!(matches!(
        &p.config.checker,
        CheckerConfig::Smtp { helo_name, .. } if helo_name == "lb.example.test"
    ));
}

#[test]
fn misc_check_documented_example() {
    let (p, w) = probe(
        "MISC_CHECK {\n  misc_path \"/usr/local/bin/script.sh arg1\"\n  misc_timeout 5\n  misc_dynamic\n  user 1000 1000\n}\n",
    );
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(
        p.config.checker,
        CheckerConfig::Misc {
            path: "/usr/local/bin/script.sh arg1".into(),
            timeout: Some(Duration::from_secs(5)),
            dynamic: true,
            uid: Some(1000),
            gid: Some(1000),
        }
    );
    let e = err("MISC_CHECK {\n  misc_path /bin/true\n  user nobody\n}\n");
    assert!(matches!(e.kind, MapErrorKind::Unsupported(_)));
    assert_eq!((e.span.line, e.span.col), (3, 3));
    let e = err("MISC_CHECK {\n  misc_timeout 3\n}\n");
    assert_eq!(e.kind, MapErrorKind::Missing("misc_path"));
    assert_eq!(e.span.line, 1);
}

#[test]
fn udp_check_payload_and_reply() {
    let (p, w) =
        probe("UDP_CHECK {\n  payload 0a0B\n  require_reply 4f4b\n  min_reply_length 2\n}\n");
    assert_eq!(w.len(), 1);
    let CheckerConfig::Udp {
        payload,
        expect,
        require_reply,
        ..
    } = &p.config.checker
    else {
        panic!()
    };
    assert_eq!(payload.bytes().unwrap(), vec![0x0a, 0x0b]);
    assert!(*require_reply);
    let Some(ExpectConfig::Regex(re)) = expect else {
        panic!()
    };
    let re = regex::bytes::Regex::new(re).unwrap();
    assert!(re.is_match(b"OK and more"));
    assert!(!re.is_match(b"xOK"));
    let e = err("UDP_CHECK {\n  payload 0a0\n}\n");
    assert!(matches!(e.kind, MapErrorKind::BadValue { .. }));
    assert_eq!(e.span.line, 2);
}

#[cfg(feature = "dns")]
#[test]
fn dns_check_defaults_and_type() {
    let (p, _) = probe("DNS_CHECK {\n}\n");
    assert!(matches!(
        &p.config.checker,
        CheckerConfig::Dns { name, rtype, .. } if name == "." && rtype == "SOA"
    ));
    let (p, _) = probe("DNS_CHECK {\n  type a\n  name www.example.test\n}\n");
    assert!(matches!(
        &p.config.checker,
        CheckerConfig::Dns { name, rtype, .. } if name == "www.example.test." && rtype == "A"
    ));
    let e = err("DNS_CHECK {\n  type BOGUS\n}\n");
    assert!(matches!(e.kind, MapErrorKind::Invalid(_)));
}

#[cfg(feature = "icmp")]
#[test]
fn ping_check() {
    let (p, w) = probe("PING_CHECK {\n  connect_ip 192.0.2.7\n  retry 2\n}\n");
    assert!(w.is_empty());
    assert!(matches!(p.config.checker, CheckerConfig::Ping { .. }));
    assert_eq!(p.config.retry, 2);
    assert_eq!(
        p.target("192.0.2.1:0".parse().unwrap()).addr.ip(),
        "192.0.2.7".parse::<IpAddr>().unwrap()
    );
}

#[test]
fn file_check_refers_to_track_file() {
    let c = conf(
        "track_file weight_file {\n  file /run/weight\n  weight -10 reverse\n  init_file 0\n}\n\
         FILE_CHECK {\n  track_file weight_file\n}\n\
         FILE_CHECK {\n  track_file weight_file\n  weight 3\n}\n\
         FILE_CHECK {\n  track_file nope\n}\n",
    );
    let ctx = MapContext::from_config(&c).unwrap();
    assert_eq!(ctx.warnings.len(), 1, "init_file");
    let first = map_checker(&c.nodes[1], &ctx.value).unwrap();
    let MappedCheck::Probe(p) = first.value else {
        panic!()
    };
    assert_eq!(
        p.config.checker,
        CheckerConfig::File {
            path: "/run/weight".into(),
            weight: -10,
            reverse: true
        }
    );
    let MappedCheck::Probe(p) = map_checker(&c.nodes[2], &ctx.value).unwrap().value else {
        panic!()
    };
    assert!(matches!(
        p.config.checker,
        CheckerConfig::File {
            weight: 3,
            reverse: false,
            ..
        }
    ));
    let e = map_checker(&c.nodes[3], &ctx.value).unwrap_err();
    assert_eq!(e.kind, MapErrorKind::UnknownTrackFile("nope".into()));
    assert_eq!(e.span.line, 14);
}

#[test]
fn bfd_check_is_external() {
    let c = conf("BFD_CHECK {\n  name bfd_rs1\n  alpha\n  weight 5\n}\n");
    let m = map_checker(&c.nodes[0], &MapContext::default()).unwrap();
    assert_eq!(m.warnings.len(), 1);
    let MappedCheck::External(e) = m.value else {
        panic!()
    };
    assert_eq!(
        e.source,
        ExternalSource::Bfd {
            name: "bfd_rs1".into()
        }
    );
    assert!(e.alpha);
    assert_eq!(err("BFD_CHECK {\n}\n").kind, MapErrorKind::Missing("name"));
}

#[test]
fn real_server_defaults_are_inherited() {
    let c = conf(
        "virtual_server 10.0.0.1 80 {\n  delay_loop 6\n  lb_algo rr\n  real_server 192.168.1.1 80 {\n    weight 1\n    connect_timeout 4\n    retry 2\n    TCP_CHECK {\n      connect_port 81\n    }\n    MISC_CHECK {\n      misc_path /bin/true\n      retry 0\n    }\n  }\n}\n",
    );
    let vs = &c.nodes[0];
    let mut ctx = MapContext::default();
    for n in &vs.children {
        ctx.defaults.apply(n).unwrap();
    }
    let rs = vs.child("real_server").unwrap();
    let m = map_real_server(rs, &ctx).unwrap();
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    let probes: Vec<&ProbeCheck> = m
        .value
        .iter()
        .map(|c| match c {
            MappedCheck::Probe(p) => p,
            MappedCheck::External(_) => panic!(),
        })
        .collect();
    assert_eq!(probes.len(), 2);
    for p in &probes {
        assert_eq!(p.config.delay_loop, Duration::from_secs(6));
        assert_eq!(p.config.connect_timeout, Duration::from_secs(4));
    }
    assert_eq!(probes[0].config.retry, 2);
    assert_eq!(probes[1].config.retry, 0);
    assert_eq!(probes[0].connect_port, Some(81));
}

#[test]
fn typed_errors_carry_spans() {
    let e = err("TCP_CHECK {\n  connect_timeout soon\n}\n");
    assert_eq!(
        e.to_string(),
        "<string>:2:3: connect_timeout: bad value \"soon\": expected a non-negative number of seconds"
    );
    let e = err("TCP_CHECK {\n  connect_ip\n}\n");
    assert_eq!(e.kind, MapErrorKind::MissingValue("connect_ip".into()));
    let e = err("TCP_CHECK {\n  connect_port 70000\n}\n");
    assert!(matches!(e.kind, MapErrorKind::BadValue { .. }));
    let c = conf("real_server 1.2.3.4 80 {\n}\n");
    let e = map_checker(&c.nodes[0], &MapContext::default()).unwrap_err();
    assert!(matches!(e.kind, MapErrorKind::NotAChecker(_)));
}

#[cfg(feature = "http")]
#[test]
fn http_errors() {
    let e = err("HTTP_GET {\n  connect_timeout 1\n}\n");
    assert_eq!(e.kind, MapErrorKind::Missing("url"));
    let e = err("HTTP_GET {\n  url {\n    status_code 200\n  }\n}\n");
    assert_eq!((e.kind, e.span.line), (MapErrorKind::Missing("path"), 2));
    let e = err("HTTP_GET {\n  url {\n    path /\n    digest xyz\n  }\n}\n");
    assert_eq!(e.span.line, 4);
    let e = err("HTTP_GET {\n  url {\n    path /\n    regex \"(\"\n  }\n}\n");
    assert!(matches!(e.kind, MapErrorKind::Invalid(_)));
    let e = err("HTTP_GET {\n  url {\n    path /\n    status_code 42\n  }\n}\n");
    assert!(matches!(e.kind, MapErrorKind::Invalid(_)));
}

#[test]
fn mapped_configs_build() {
    let (p, _) = probe("TCP_CHECK {\n}\n");
    assert!(p.config.build().is_ok());
    let spec = p.config.spec(p.target("127.0.0.1:1".parse().unwrap()));
    assert!(spec.timing.warmup);
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    const WORDS: &[&str] = &[
        "url",
        "path",
        "digest",
        "status_code",
        "regex",
        "regex_no_match",
        "virtualhost",
        "connect_ip",
        "connect_port",
        "bind_to",
        "bind_port",
        "connect_timeout",
        "delay_loop",
        "retry",
        "nb_get_retry",
        "delay_before_retry",
        "warmup",
        "alpha",
        "helo_name",
        "host",
        "misc_path",
        "misc_timeout",
        "misc_dynamic",
        "user",
        "payload",
        "require_reply",
        "min_reply_length",
        "type",
        "name",
        "track_file",
        "weight",
        "enable_sni",
        "protocol",
        "fwmark",
        "bogus",
    ];
    const ARGS: &[&str] = &[
        "",
        "0",
        "1",
        "-1",
        "2.5",
        "1e300",
        "NaN",
        "inf",
        "70000",
        "10.0.0.1",
        "::1",
        "0a0b",
        "0x0",
        "abc",
        "(",
        "/",
        "200-204",
        "999-100",
        "reverse",
        "A",
        "BOGUS",
        "1.0C",
        "640205b7b0fc66c1ea91c463fac6334d",
        "é",
    ];

    fn span() -> Span {
        Span {
            file: "<prop>".into(),
            line: 1,
            col: 1,
        }
    }

    fn node(depth: u32) -> BoxedStrategy<Node> {
        let leaf = (
            proptest::sample::select(WORDS),
            proptest::collection::vec(proptest::sample::select(ARGS), 0..3),
        );
        if depth == 0 {
            return leaf
                .prop_map(|(k, a)| Node {
                    keyword: k.to_string(),
                    args: a.iter().map(|s| s.to_string()).collect(),
                    children: Vec::new(),
                    block: false,
                    span: span(),
                })
                .boxed();
        }
        (leaf, proptest::collection::vec(node(depth - 1), 0..4))
            .prop_map(|((k, a), children)| Node {
                keyword: k.to_string(),
                args: a.iter().map(|s| s.to_string()).collect(),
                block: !children.is_empty(),
                children,
                span: span(),
            })
            .boxed()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// Arbitrary blocks never panic, and every mapped probe builds (bad values are
        /// typed errors, not late build failures).
        #[test]
        fn arbitrary_checker_blocks_never_panic(
            kw in proptest::sample::select(CHECKER_KEYWORDS),
            children in proptest::collection::vec(node(2), 0..8),
        ) {
            let n = Node {
                keyword: kw.to_string(),
                args: Vec::new(),
                children,
                block: true,
                span: span(),
            };
            let mut ctx = MapContext::default();
            ctx.track_files.insert(
                "0".into(),
                TrackFile { path: "/nonexistent".into(), weight: 1, reverse: false },
            );
            if let Ok(m) = map_checker(&n, &ctx) {
                if let MappedCheck::Probe(p) = m.value {
                    #[cfg(feature = "tls")]
                    let skip_files = matches!(&p.config.checker, CheckerConfig::Http { tls: Some(t), .. } if t.ca_file.is_some());
                    #[cfg(not(feature = "tls"))]
                    let skip_files = false;
                    if !skip_files {
                        prop_assert!(p.config.build().is_ok(), "{:?}", p.config);
                    }
                }
            }
        }
    }
}
