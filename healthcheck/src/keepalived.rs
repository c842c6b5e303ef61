//! Mapping keepalived.conf checker blocks onto [`CheckConfig`].
//!
//! `ha_core::conf` parses the file into a tree of [`Node`]s; this module reads the
//! checker blocks found under a `real_server` — `TCP_CHECK`, `HTTP_GET`, `SSL_GET`,
//! `SMTP_CHECK`, `DNS_CHECK`, `MISC_CHECK`, `UDP_CHECK`, `PING_CHECK`, `FILE_CHECK` — and
//! `BFD_CHECK`, whose verdict comes from a BFD session run elsewhere
//! ([`MappedCheck::External`]).
//!
//! Every error carries the [`Span`] (`file:line:col`) of the offending keyword. Keywords
//! that are unknown, or known to keepalived but not supported here, are never silently
//! dropped: each one yields a [`Warning`] with its location.
//!
//! Defaults follow keepalived, not [`CheckConfig`]'s serde defaults: `warmup` is on
//! (spread over `delay_loop`) unless `warmup 0`, `retry` is 1 for `HTTP_GET`, `SSL_GET`
//! and `SMTP_CHECK` and 0 otherwise, `delay_loop` is 60 s, `connect_timeout` 5 s and
//! `delay_before_retry` 1 s. Timing keywords written on the enclosing `virtual_server` or
//! `real_server` are passed in as [`CheckDefaults`] (see [`CheckDefaults::apply`]).
//!
//! ```
//! use ha_core::conf::{parse_str, Options};
//! use ha_healthcheck::keepalived::{map_checker, MapContext, MappedCheck};
//!
//! let conf = parse_str(
//!     "HTTP_GET {\n  url {\n    path /health\n    status_code 200\n  }\n  connect_timeout 3\n  retry 2\n}\n",
//!     &Options::default(),
//! ).unwrap();
//! let mapped = map_checker(&conf.nodes[0], &MapContext::default()).unwrap();
//! assert!(mapped.warnings.is_empty());
//! let MappedCheck::Probe(probe) = mapped.value else { panic!() };
//! assert_eq!(probe.config.retry, 2);
//! let target = probe.target("192.0.2.10:80".parse().unwrap());
//! assert_eq!(target.addr.port(), 80);
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ha_core::conf::{Config, Node, Span};
use serde::Serialize;

#[cfg(feature = "tls")]
use crate::config::TlsConfig;
#[cfg(feature = "http")]
use crate::config::UrlConfig;
use crate::config::{CheckConfig, CheckerConfig, ConfigError, ExpectConfig, Payload};
use crate::outcome::Target;

/// Keywords that name a checker block.
pub const CHECKER_KEYWORDS: &[&str] = &[
    "TCP_CHECK",
    "HTTP_GET",
    "SSL_GET",
    "SMTP_CHECK",
    "DNS_CHECK",
    "MISC_CHECK",
    "UDP_CHECK",
    "PING_CHECK",
    "FILE_CHECK",
    "BFD_CHECK",
];

/// Whether `keyword` names a checker block.
pub fn is_checker(keyword: &str) -> bool {
    CHECKER_KEYWORDS.contains(&keyword)
}

/// A keyword that was read but had no effect, with where it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// Where the keyword is.
    pub span: Span,
    /// The keyword.
    pub keyword: String,
    /// Why it had no (or a reduced) effect.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.span, self.keyword, self.message)
    }
}

/// What is wrong with a checker block.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MapErrorKind {
    /// The node is not a checker block.
    #[error("{0:?} is not a checker block")]
    NotAChecker(String),
    /// A keyword needs an argument it does not have.
    #[error("{0} needs a value")]
    MissingValue(String),
    /// A required keyword is absent.
    #[error("missing {0}")]
    Missing(&'static str),
    /// A value does not parse.
    #[error("{keyword}: bad value {value:?}: {reason}")]
    BadValue {
        /// The keyword.
        keyword: String,
        /// The value as written.
        value: String,
        /// What was expected.
        reason: String,
    },
    /// A checker or setting this build cannot provide.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A `FILE_CHECK` names a `track_file` that is not defined.
    #[error("unknown track_file {0:?}")]
    UnknownTrackFile(String),
    /// The mapped configuration does not build (bad pattern, status list, DNS type, ...).
    #[error("{0}")]
    Invalid(String),
}

/// A checker block that cannot be mapped, with its location.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{span}: {kind}")]
pub struct MapError {
    /// Where.
    pub span: Span,
    /// What.
    pub kind: MapErrorKind,
}

impl MapError {
    fn new(span: &Span, kind: MapErrorKind) -> Self {
        MapError {
            span: span.clone(),
            kind,
        }
    }
}

/// A mapped value with the warnings produced on the way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapped<T> {
    /// The value.
    pub value: T,
    /// Keywords that had no (or a reduced) effect.
    pub warnings: Vec<Warning>,
}

/// A check probed by this crate: its configuration and keepalived's target override.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeCheck {
    /// Checker and timing.
    pub config: CheckConfig,
    /// `connect_ip`: probe this address instead of the real server's.
    pub connect_ip: Option<IpAddr>,
    /// `connect_port`: probe this port instead of the real server's.
    pub connect_port: Option<u16>,
    /// The checker keyword (`HTTP_GET`, ...).
    pub keyword: String,
    /// Where the block is.
    pub span: Span,
}

impl ProbeCheck {
    /// The target for a real server at `real_server`, with `connect_ip` / `connect_port`
    /// applied.
    pub fn target(&self, real_server: SocketAddr) -> Target {
        let ip = self.connect_ip.unwrap_or(real_server.ip());
        let port = self.connect_port.unwrap_or(real_server.port());
        Target::new(SocketAddr::new(ip, port))
    }
}

/// A verdict this crate does not probe itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum ExternalSource {
    /// `BFD_CHECK`: the state of the named `bfd_instance` session.
    Bfd {
        /// The `bfd_instance` name.
        name: String,
    },
}

/// A check whose verdict comes from another subsystem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExternalCheck {
    /// Where the verdict comes from.
    pub source: ExternalSource,
    /// Start down until the source reports up (`alpha`).
    pub alpha: bool,
    /// Where the block is.
    pub span: Span,
}

/// A mapped checker block.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // a configuration value, built once
pub enum MappedCheck {
    /// A check this crate runs.
    Probe(ProbeCheck),
    /// A verdict taken from elsewhere (`BFD_CHECK`).
    External(ExternalCheck),
}

/// Timing defaults inherited from the enclosing `virtual_server` / `real_server`
/// (keepalived lets both carry `delay_loop`, `connect_timeout`, `retry`,
/// `delay_before_retry`, `warmup` and `alpha`). `None` means keepalived's default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckDefaults {
    /// `delay_loop`.
    pub delay_loop: Option<Duration>,
    /// `connect_timeout`.
    pub connect_timeout: Option<Duration>,
    /// `retry`.
    pub retry: Option<u32>,
    /// `delay_before_retry`.
    pub delay_before_retry: Option<Duration>,
    /// `warmup` (`Some(ZERO)` disables it).
    pub warmup: Option<Duration>,
    /// `alpha`.
    pub alpha: Option<bool>,
}

impl CheckDefaults {
    /// Takes `node` into account if it is one of the inheritable timing keywords and
    /// returns whether it was; the caller handles (or warns about) every other keyword.
    pub fn apply(&mut self, node: &Node) -> Result<bool, MapError> {
        match node.keyword.as_str() {
            "delay_loop" => self.delay_loop = Some(secs(node)?),
            "connect_timeout" => self.connect_timeout = Some(secs(node)?),
            "retry" | "nb_get_retry" | "nb_sock_retry" => self.retry = Some(int(node)?),
            "delay_before_retry" => self.delay_before_retry = Some(secs(node)?),
            "warmup" => self.warmup = Some(secs(node)?),
            "alpha" => self.alpha = Some(true),
            "no_alpha" => self.alpha = Some(false),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// A top-level `track_file NAME { file PATH  weight W [reverse] }` definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackFile {
    /// The file.
    pub path: PathBuf,
    /// Multiplier of the file's value.
    pub weight: i64,
    /// Negate the offset.
    pub reverse: bool,
}

/// What a checker block may refer to outside itself.
#[derive(Clone, Debug, Default)]
pub struct MapContext {
    /// Inherited timing.
    pub defaults: CheckDefaults,
    /// `track_file` definitions, by name (see [`track_files`]).
    pub track_files: BTreeMap<String, TrackFile>,
    /// TLS settings from the global `SSL` block (see [`ssl_block`]); `SSL_GET` without
    /// one does not verify the server, as in keepalived.
    #[cfg(feature = "tls")]
    pub ssl: Option<TlsConfig>,
}

impl MapContext {
    /// A context from a whole configuration: its `track_file` and `SSL` sections.
    pub fn from_config(conf: &Config) -> Result<Mapped<MapContext>, MapError> {
        let files = track_files(conf)?;
        let mut warnings = files.warnings;
        #[cfg_attr(not(feature = "tls"), allow(unused_mut))]
        let mut ctx = MapContext {
            track_files: files.value,
            ..MapContext::default()
        };
        #[cfg(feature = "tls")]
        if let Some(ssl) = conf.sections("SSL").last() {
            let m = ssl_block(ssl)?;
            warnings.extend(m.warnings);
            ctx.ssl = Some(m.value);
        }
        #[cfg(not(feature = "tls"))]
        for ssl in conf.sections("SSL") {
            warnings.push(warn(ssl, "SSL_GET support (feature tls) is not built in"));
        }
        Ok(Mapped {
            value: ctx,
            warnings,
        })
    }
}

fn warn(node: &Node, message: impl Into<String>) -> Warning {
    Warning {
        span: node.span.clone(),
        keyword: node.keyword.clone(),
        message: message.into(),
    }
}

fn unknown(node: &Node, within: &str) -> Warning {
    warn(node, format!("unknown keyword in {within}, ignored"))
}

fn value(node: &Node) -> Result<&str, MapError> {
    node.arg()
        .ok_or_else(|| MapError::new(&node.span, MapErrorKind::MissingValue(node.keyword.clone())))
}

fn bad(node: &Node, v: &str, reason: &str) -> MapError {
    MapError::new(
        &node.span,
        MapErrorKind::BadValue {
            keyword: node.keyword.clone(),
            value: v.to_string(),
            reason: reason.to_string(),
        },
    )
}

fn secs(node: &Node) -> Result<Duration, MapError> {
    let v = value(node)?;
    v.parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| bad(node, v, "expected a non-negative number of seconds"))
}

fn int<T: std::str::FromStr>(node: &Node) -> Result<T, MapError> {
    let v = value(node)?;
    v.parse().map_err(|_| bad(node, v, "expected an integer"))
}

fn ip(node: &Node) -> Result<IpAddr, MapError> {
    let v = value(node)?;
    v.parse()
        .map_err(|_| bad(node, v, "expected an IP address"))
}

fn flag_extra_args(node: &Node, warnings: &mut Vec<Warning>) {
    if !node.args.is_empty() {
        warnings.push(warn(node, "takes no value; arguments ignored"));
    }
}

/// Reads every top-level `track_file` definition.
pub fn track_files(conf: &Config) -> Result<Mapped<BTreeMap<String, TrackFile>>, MapError> {
    let mut out = BTreeMap::new();
    let mut warnings = Vec::new();
    for node in conf.sections("track_file") {
        let name = value(node)?.to_string();
        let mut path = None;
        let mut weight = 1;
        let mut reverse = false;
        for c in &node.children {
            match c.keyword.as_str() {
                "file" => path = Some(PathBuf::from(value(c)?)),
                "weight" => {
                    weight = int(c)?;
                    match c.args.get(1).map(String::as_str) {
                        None => {}
                        Some("reverse") => reverse = true,
                        Some(other) => return Err(bad(c, other, "expected \"reverse\"")),
                    }
                }
                "init_file" => warnings.push(warn(
                    c,
                    "not supported: the file is not created; a missing file reads as down",
                )),
                _ => warnings.push(unknown(c, "track_file")),
            }
        }
        let path = path.ok_or_else(|| MapError::new(&node.span, MapErrorKind::Missing("file")))?;
        out.insert(
            name,
            TrackFile {
                path,
                weight,
                reverse,
            },
        );
    }
    Ok(Mapped {
        value: out,
        warnings,
    })
}

/// Reads the global `SSL { ca … certificate … key … }` block used by `SSL_GET`.
#[cfg(feature = "tls")]
pub fn ssl_block(node: &Node) -> Result<Mapped<TlsConfig>, MapError> {
    let mut tls = TlsConfig {
        verify: false,
        ca_file: None,
        cert_file: None,
        key_file: None,
        sni: None,
    };
    let mut warnings = Vec::new();
    for c in &node.children {
        match c.keyword.as_str() {
            "ca" => {
                tls.ca_file = Some(PathBuf::from(value(c)?));
                tls.verify = true;
            }
            "certificate" => tls.cert_file = Some(PathBuf::from(value(c)?)),
            "key" => tls.key_file = Some(PathBuf::from(value(c)?)),
            "password" => warnings.push(warn(c, "encrypted keys are not supported; ignored")),
            _ => warnings.push(unknown(c, "SSL")),
        }
    }
    Ok(Mapped {
        value: tls,
        warnings,
    })
}

/// The settings every checker shares.
struct Common {
    defaults: CheckDefaults,
    connect_ip: Option<IpAddr>,
    connect_port: Option<u16>,
    bind_to: Option<IpAddr>,
    bind_port: Option<u16>,
}

impl Common {
    /// Takes a shared keyword; `false` when `node` is not one.
    fn apply(&mut self, node: &Node, warnings: &mut Vec<Warning>) -> Result<bool, MapError> {
        if self.defaults.apply(node)? {
            if node.keyword.starts_with("nb_") {
                warnings.push(warn(node, "deprecated spelling of retry"));
            }
            return Ok(true);
        }
        match node.keyword.as_str() {
            "connect_ip" => self.connect_ip = Some(ip(node)?),
            "connect_port" => self.connect_port = Some(int(node)?),
            "bind_to" => self.bind_to = Some(ip(node)?),
            "bind_port" => self.bind_port = Some(int(node)?),
            "bind_if" => warnings.push(warn(
                node,
                "not supported: binding to an interface needs SO_BINDTODEVICE; ignored",
            )),
            "fwmark" => warnings.push(warn(node, "not supported: packets are not marked; ignored")),
            "log_all_failures" => warnings.push(warn(
                node,
                "not needed: every failure is reported as a typed outcome; ignored",
            )),
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn bind(&self, block: &Node, warnings: &mut Vec<Warning>) -> Option<SocketAddr> {
        match (self.bind_to, self.bind_port) {
            (Some(ip), port) => Some(SocketAddr::new(ip, port.unwrap_or(0))),
            (None, Some(_)) => {
                warnings.push(warn(
                    block,
                    "bind_port without bind_to is not supported; the source port is not bound",
                ));
                None
            }
            (None, None) => None,
        }
    }
}

/// Maps one checker block. `node` is the `TCP_CHECK { … }` (etc.) node itself.
pub fn map_checker(node: &Node, ctx: &MapContext) -> Result<Mapped<MappedCheck>, MapError> {
    let kw = node.keyword.as_str();
    if !is_checker(kw) {
        return Err(MapError::new(
            &node.span,
            MapErrorKind::NotAChecker(node.keyword.clone()),
        ));
    }
    let mut warnings = Vec::new();
    if !node.args.is_empty() {
        warnings.push(warn(node, "checker blocks take no arguments; ignored"));
    }
    let mut common = Common {
        defaults: ctx.defaults.clone(),
        connect_ip: None,
        connect_port: None,
        bind_to: None,
        bind_port: None,
    };

    if kw == "BFD_CHECK" {
        let mut name = None;
        for c in &node.children {
            match c.keyword.as_str() {
                "name" => name = Some(value(c)?.to_string()),
                "alpha" => common.defaults.alpha = Some(true),
                "no_alpha" => common.defaults.alpha = Some(false),
                "weight" => warnings.push(warn(
                    c,
                    "not supported: a BFD_CHECK only gives up or down; ignored",
                )),
                _ => warnings.push(unknown(c, kw)),
            }
        }
        let name = name.ok_or_else(|| MapError::new(&node.span, MapErrorKind::Missing("name")))?;
        return Ok(Mapped {
            value: MappedCheck::External(ExternalCheck {
                source: ExternalSource::Bfd { name },
                alpha: common.defaults.alpha.unwrap_or(false),
                span: node.span.clone(),
            }),
            warnings,
        });
    }

    let checker = match kw {
        "TCP_CHECK" | "PING_CHECK" => {
            for c in &node.children {
                if !common.apply(c, &mut warnings)? {
                    warnings.push(unknown(c, kw));
                }
            }
            if kw == "TCP_CHECK" {
                CheckerConfig::Tcp {
                    bind_to: common.bind(node, &mut warnings),
                    steps: Vec::new(),
                }
            } else {
                if common.bind_to.is_some() || common.bind_port.is_some() {
                    warnings.push(warn(node, "PING_CHECK ignores bind_to / bind_port"));
                }
                if common.connect_port.is_some() {
                    warnings.push(warn(node, "PING_CHECK ignores connect_port"));
                }
                ping(node)?
            }
        }
        "SMTP_CHECK" => {
            let mut helo = None;
            let mut hosts = 0;
            for c in &node.children {
                if common.apply(c, &mut warnings)? {
                    continue;
                }
                match c.keyword.as_str() {
                    "helo_name" => helo = Some(value(c)?.to_string()),
                    "host" => {
                        hosts += 1;
                        if hosts > 1 {
                            warnings.push(warn(
                                c,
                                "only the first host block is used; write one SMTP_CHECK per host",
                            ));
                            continue;
                        }
                        for h in &c.children {
                            if !common.apply(h, &mut warnings)? {
                                warnings.push(unknown(h, "host"));
                            }
                        }
                    }
                    _ => warnings.push(unknown(c, kw)),
                }
            }
            CheckerConfig::Smtp {
                bind_to: common.bind(node, &mut warnings),
                helo_name: helo.unwrap_or_else(|| "localhost".into()),
            }
        }
        "MISC_CHECK" => {
            let mut path = None;
            let mut timeout = None;
            let mut dynamic = false;
            let mut uid = None;
            let mut gid = None;
            for c in &node.children {
                if common.apply(c, &mut warnings)? {
                    continue;
                }
                match c.keyword.as_str() {
                    "misc_path" => {
                        if c.args.len() > 1 {
                            return Err(bad(
                                c,
                                &c.args.join(" "),
                                "quote a command line with arguments",
                            ));
                        }
                        path = Some(value(c)?.to_string());
                    }
                    "misc_timeout" => timeout = Some(secs(c)?),
                    "misc_dynamic" => {
                        flag_extra_args(c, &mut warnings);
                        dynamic = true;
                    }
                    "user" => {
                        let u = value(c)?;
                        uid = Some(u.parse::<u32>().map_err(|_| {
                            MapError::new(
                                &c.span,
                                MapErrorKind::Unsupported(format!(
                                    "user {u:?}: give a numeric uid (names are not resolved)"
                                )),
                            )
                        })?);
                        if let Some(g) = c.args.get(1) {
                            gid = Some(g.parse::<u32>().map_err(|_| {
                                MapError::new(
                                    &c.span,
                                    MapErrorKind::Unsupported(format!(
                                        "group {g:?}: give a numeric gid (names are not resolved)"
                                    )),
                                )
                            })?);
                        }
                    }
                    _ => warnings.push(unknown(c, kw)),
                }
            }
            let path =
                path.ok_or_else(|| MapError::new(&node.span, MapErrorKind::Missing("misc_path")))?;
            CheckerConfig::Misc {
                path,
                timeout,
                dynamic,
                uid,
                gid,
            }
        }
        "UDP_CHECK" => {
            let mut payload = Payload(String::new());
            let mut expect = None;
            let mut require_reply = false;
            for c in &node.children {
                if common.apply(c, &mut warnings)? {
                    continue;
                }
                match c.keyword.as_str() {
                    "payload" => payload = Payload(format!("hex:{}", hex_arg(c)?)),
                    "require_reply" => {
                        require_reply = true;
                        if c.arg().is_some() {
                            let h = hex_arg(c)?;
                            expect = Some(ExpectConfig::Regex(prefix_pattern(&h)));
                        }
                    }
                    "min_reply_length" | "max_reply_length" => {
                        int::<u32>(c)?;
                        warnings.push(warn(c, "not supported: reply length is not checked"));
                    }
                    _ => warnings.push(unknown(c, kw)),
                }
            }
            CheckerConfig::Udp {
                bind_to: common.bind(node, &mut warnings),
                payload,
                expect,
                require_reply,
            }
        }
        "FILE_CHECK" => {
            let mut name = None;
            let mut weight = None;
            let mut reverse = None;
            for c in &node.children {
                match c.keyword.as_str() {
                    "track_file" | "file" => name = Some(c),
                    "weight" => {
                        weight = Some(int::<i64>(c)?);
                        reverse = Some(match c.args.get(1).map(String::as_str) {
                            None => false,
                            Some("reverse") => true,
                            Some(other) => return Err(bad(c, other, "expected \"reverse\"")),
                        });
                    }
                    _ => {
                        if !common.apply(c, &mut warnings)? {
                            warnings.push(unknown(c, kw));
                        }
                    }
                }
            }
            let name_node =
                name.ok_or_else(|| MapError::new(&node.span, MapErrorKind::Missing("track_file")))?;
            let name = value(name_node)?;
            let tf = ctx.track_files.get(name).ok_or_else(|| {
                MapError::new(
                    &name_node.span,
                    MapErrorKind::UnknownTrackFile(name.to_string()),
                )
            })?;
            CheckerConfig::File {
                path: tf.path.clone(),
                weight: weight.unwrap_or(tf.weight),
                reverse: reverse.unwrap_or(tf.reverse),
            }
        }
        "HTTP_GET" | "SSL_GET" => http(node, ctx, &mut common, &mut warnings)?,
        "DNS_CHECK" => dns(node, &mut common, &mut warnings)?,
        _ => {
            return Err(MapError::new(
                &node.span,
                MapErrorKind::NotAChecker(node.keyword.clone()),
            ));
        }
    };

    let d = &common.defaults;
    let delay_loop = d.delay_loop.unwrap_or(Duration::from_secs(60));
    let warmup = match d.warmup {
        None => true,
        Some(w) if w.is_zero() => false,
        Some(w) => {
            if w != delay_loop {
                let at = node
                    .children
                    .iter()
                    .find(|c| c.keyword == "warmup")
                    .unwrap_or(node);
                warnings.push(warn(
                    at,
                    format!(
                        "the first check is spread over delay_loop ({} s), not {} s",
                        delay_loop.as_secs_f64(),
                        w.as_secs_f64()
                    ),
                ));
            }
            true
        }
    };
    let default_retry = u32::from(matches!(kw, "HTTP_GET" | "SSL_GET" | "SMTP_CHECK"));
    let config = CheckConfig {
        checker,
        delay_loop,
        down_interval: None,
        connect_timeout: d.connect_timeout.unwrap_or(Duration::from_secs(5)),
        retry: d.retry.unwrap_or(default_retry),
        delay_before_retry: d.delay_before_retry.unwrap_or(Duration::from_secs(1)),
        rise: 1,
        fall: 1,
        warmup,
        jitter: Duration::ZERO,
        alpha: d.alpha.unwrap_or(false),
    };
    validate(&config, node)?;
    Ok(Mapped {
        value: MappedCheck::Probe(ProbeCheck {
            config,
            connect_ip: common.connect_ip,
            connect_port: common.connect_port,
            keyword: node.keyword.clone(),
            span: node.span.clone(),
        }),
        warnings,
    })
}

/// Builds the checker once to catch bad patterns, status lists and DNS types, except
/// when building would read files (TLS keys and roots are read when the check starts).
fn validate(config: &CheckConfig, node: &Node) -> Result<(), MapError> {
    #[cfg(feature = "tls")]
    if let CheckerConfig::Http { tls: Some(t), .. } = &config.checker {
        if t.ca_file.is_some() || t.cert_file.is_some() || t.key_file.is_some() {
            let mut c = config.checker.clone();
            if let CheckerConfig::Http { tls, .. } = &mut c {
                *tls = None;
            }
            return c.build().map(drop).map_err(|e| invalid(node, e));
        }
    }
    config.build().map(drop).map_err(|e| invalid(node, e))
}

fn invalid(node: &Node, e: ConfigError) -> MapError {
    MapError::new(&node.span, MapErrorKind::Invalid(e.to_string()))
}

fn hex_arg(node: &Node) -> Result<String, MapError> {
    let v = node.args.concat();
    if v.is_empty() {
        return Err(MapError::new(
            &node.span,
            MapErrorKind::MissingValue(node.keyword.clone()),
        ));
    }
    let h = v.strip_prefix("0x").unwrap_or(&v);
    if h.len() % 2 != 0 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad(node, &v, "expected an even number of hex digits"));
    }
    Ok(h.to_ascii_lowercase())
}

/// A byte pattern matching replies that start with the bytes of `hex`.
fn prefix_pattern(hex: &str) -> String {
    let mut p = String::from(r"(?s-u)\A");
    for pair in hex.as_bytes().chunks(2) {
        p.push_str(r"\x");
        p.push(char::from(pair[0]));
        p.push(char::from(pair[1]));
    }
    p
}

#[cfg(feature = "icmp")]
fn ping(_node: &Node) -> Result<CheckerConfig, MapError> {
    Ok(CheckerConfig::Ping { payload_len: 56 })
}

#[cfg(not(feature = "icmp"))]
fn ping(node: &Node) -> Result<CheckerConfig, MapError> {
    Err(MapError::new(
        &node.span,
        MapErrorKind::Unsupported("PING_CHECK needs the icmp feature".into()),
    ))
}

#[cfg(feature = "http")]
fn http(
    node: &Node,
    ctx: &MapContext,
    common: &mut Common,
    warnings: &mut Vec<Warning>,
) -> Result<CheckerConfig, MapError> {
    let mut urls = Vec::new();
    let mut virtualhost = None;
    let mut sni = false;
    for c in &node.children {
        if common.apply(c, warnings)? {
            continue;
        }
        match c.keyword.as_str() {
            "url" => urls.push(url(c, warnings, &mut virtualhost)?),
            "virtualhost" => virtualhost = Some(value(c)?.to_string()),
            "enable_sni" => {
                flag_extra_args(c, warnings);
                if node.keyword == "HTTP_GET" {
                    warnings.push(warn(c, "only meaningful in SSL_GET; ignored"));
                }
                sni = true;
            }
            "protocol" => {
                let v = value(c)?;
                if !matches!(v, "1.0" | "1.0C" | "1.1") {
                    return Err(bad(c, v, "expected 1.0, 1.0C or 1.1"));
                }
                warnings.push(warn(c, "requests are always HTTP/1.1; ignored"));
            }
            "tls_compliant" | "fast_recovery" => {
                warnings.push(warn(c, "not supported; ignored"));
            }
            _ => warnings.push(unknown(c, &node.keyword)),
        }
    }
    if urls.is_empty() {
        return Err(MapError::new(&node.span, MapErrorKind::Missing("url")));
    }
    #[cfg(feature = "tls")]
    let tls = if node.keyword == "SSL_GET" {
        let mut t = ctx.ssl.clone().unwrap_or(TlsConfig {
            verify: false,
            ca_file: None,
            cert_file: None,
            key_file: None,
            sni: None,
        });
        if sni {
            t.sni = virtualhost.clone();
        }
        Some(t)
    } else {
        None
    };
    #[cfg(not(feature = "tls"))]
    {
        let _ = (ctx, sni);
        if node.keyword == "SSL_GET" {
            return Err(MapError::new(
                &node.span,
                MapErrorKind::Unsupported("SSL_GET needs the tls feature".into()),
            ));
        }
    }
    Ok(CheckerConfig::Http {
        urls,
        virtualhost,
        bind_to: common.bind(node, warnings),
        keep_alive: false,
        #[cfg(feature = "tls")]
        tls,
    })
}

#[cfg(feature = "http")]
fn url(
    node: &Node,
    warnings: &mut Vec<Warning>,
    virtualhost: &mut Option<String>,
) -> Result<UrlConfig, MapError> {
    let mut u = UrlConfig {
        path: String::new(),
        status_code: None,
        digest: None,
        regex: None,
        regex_no_match: false,
    };
    let mut path = false;
    for c in &node.children {
        match c.keyword.as_str() {
            "path" => {
                u.path = value(c)?.to_string();
                path = true;
            }
            "status_code" => {
                value(c)?;
                let list = c.args.join(",");
                let mut all = u.status_code.take().unwrap_or_default();
                if !all.is_empty() {
                    all.push(',');
                }
                all.push_str(&list);
                u.status_code = Some(all);
            }
            "digest" => {
                let d = value(c)?;
                if d.len() != 32 || !d.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(bad(c, d, "expected 32 hex digits (an MD5 sum)"));
                }
                u.digest = Some(d.to_ascii_lowercase());
            }
            "regex" => u.regex = Some(value(c)?.to_string()),
            "regex_no_match" => {
                flag_extra_args(c, warnings);
                u.regex_no_match = true;
            }
            "virtualhost" => {
                // Per-URL virtual hosts are not supported; the check's one is used.
                let v = value(c)?.to_string();
                if virtualhost.as_ref().is_some_and(|h| *h != v) {
                    warnings.push(warn(
                        c,
                        "only one virtualhost per check is supported; this one is ignored",
                    ));
                } else {
                    *virtualhost = Some(v);
                }
            }
            "regex_options" | "regex_stack" | "regex_min_offset" | "regex_max_offset" => {
                warnings.push(warn(c, "not supported; ignored"));
            }
            _ => warnings.push(unknown(c, "url")),
        }
    }
    if !path {
        return Err(MapError::new(&node.span, MapErrorKind::Missing("path")));
    }
    Ok(u)
}

#[cfg(not(feature = "http"))]
fn http(
    node: &Node,
    _ctx: &MapContext,
    _common: &mut Common,
    _warnings: &mut Vec<Warning>,
) -> Result<CheckerConfig, MapError> {
    Err(MapError::new(
        &node.span,
        MapErrorKind::Unsupported(format!("{} needs the http feature", node.keyword)),
    ))
}

#[cfg(feature = "dns")]
fn dns(
    node: &Node,
    common: &mut Common,
    warnings: &mut Vec<Warning>,
) -> Result<CheckerConfig, MapError> {
    let mut name = ".".to_string();
    let mut rtype = "SOA".to_string();
    for c in &node.children {
        if common.apply(c, warnings)? {
            continue;
        }
        match c.keyword.as_str() {
            "name" => name = value(c)?.to_string(),
            "type" => rtype = value(c)?.to_ascii_uppercase(),
            _ => warnings.push(unknown(c, "DNS_CHECK")),
        }
    }
    if !name.ends_with('.') {
        name.push('.');
    }
    if common.bind_to.is_some() || common.bind_port.is_some() {
        warnings.push(warn(node, "DNS_CHECK ignores bind_to / bind_port"));
    }
    Ok(CheckerConfig::Dns {
        name,
        rtype,
        expect: Vec::new(),
    })
}

#[cfg(not(feature = "dns"))]
fn dns(
    node: &Node,
    _common: &mut Common,
    _warnings: &mut Vec<Warning>,
) -> Result<CheckerConfig, MapError> {
    Err(MapError::new(
        &node.span,
        MapErrorKind::Unsupported("DNS_CHECK needs the dns feature".into()),
    ))
}

/// Every checker block directly inside `real_server`, mapped; the real server's own
/// timing keywords (and those in `inherited`, from the virtual server) are the defaults.
/// Keywords of the real server that are neither checkers nor timing are left to the
/// caller (they belong to the load balancer).
pub fn map_real_server(
    real_server: &Node,
    inherited: &MapContext,
) -> Result<Mapped<Vec<MappedCheck>>, MapError> {
    let mut ctx = inherited.clone();
    for c in &real_server.children {
        ctx.defaults.apply(c)?;
    }
    let mut checks = Vec::new();
    let mut warnings = Vec::new();
    for c in real_server
        .children
        .iter()
        .filter(|c| is_checker(&c.keyword))
    {
        let m = map_checker(c, &ctx)?;
        warnings.extend(m.warnings);
        checks.push(m.value);
    }
    Ok(Mapped {
        value: checks,
        warnings,
    })
}

#[cfg(test)]
#[path = "keepalived_tests.rs"]
mod tests;
