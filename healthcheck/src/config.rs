//! Serializable checker configuration: what a daemon reads from its config file and turns
//! into a running check.
//!
//! Times are seconds (floating point allowed), as in keepalived.conf. A [`CheckConfig`]
//! gives both the checker ([`CheckerConfig::build`]) and the scheduler's [`CheckTiming`];
//! [`CheckerConfig::key`] is a canonical identity, so identical checker blocks under
//! different virtual servers share one probe.
//!
//! ```
//! use ha_healthcheck::config::CheckConfig;
//!
//! let cfg: CheckConfig = serde_json::from_str(r#"{
//!     "checker": { "type": "http", "urls": [ { "path": "/health", "status_code": "200-204" } ] },
//!     "delay_loop": 5, "connect_timeout": 2, "retry": 1, "rise": 2
//! }"#).unwrap();
//! let checker = cfg.build().unwrap();
//! let spec = cfg.spec(ha_healthcheck::Target::new("127.0.0.1:80".parse().unwrap()));
//! assert_eq!(spec.timing.rise, 2);
//! // then: runner_handle.subscribe(spec, checker).await
//! # let _ = checker;
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::checker::Checker;
use crate::checkers::{Expect, FileCheck, MiscCheck, SmtpCheck, TcpCheck, TcpStep, UdpCheck};
use crate::outcome::Target;
use crate::scheduler::{CheckSpec, CheckTiming, CheckerKey};

/// A configuration that cannot be turned into a checker.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A pattern does not compile.
    #[error("bad pattern {0:?}: {1}")]
    Regex(String, String),
    /// A hex string is malformed.
    #[error("bad hex {0:?}")]
    Hex(String),
    /// A value is invalid.
    #[error("{0}")]
    Invalid(String),
    /// A file (CA, certificate, key) could not be read.
    #[error("{0}: {1}")]
    File(PathBuf, String),
}

mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        Duration::try_from_secs_f64(v).map_err(serde::de::Error::custom)
    }
}

mod opt_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<f64>::deserialize(d)?
            .map(|v| Duration::try_from_secs_f64(v).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Bytes given as text, or as hex with a `hex:` prefix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Payload(pub String);

impl Payload {
    /// The bytes.
    pub fn bytes(&self) -> Result<Vec<u8>, ConfigError> {
        match self.0.strip_prefix("hex:") {
            Some(h) => {
                let h: String = h.chars().filter(|c| !c.is_whitespace()).collect();
                if h.len() % 2 != 0 {
                    return Err(ConfigError::Hex(self.0.clone()));
                }
                (0..h.len())
                    .step_by(2)
                    .map(|i| {
                        h.get(i..i + 2)
                            .and_then(|b| u8::from_str_radix(b, 16).ok())
                            .ok_or_else(|| ConfigError::Hex(self.0.clone()))
                    })
                    .collect()
            }
            None => Ok(self.0.clone().into_bytes()),
        }
    }
}

/// What to expect: exact bytes or a pattern.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpectConfig {
    /// Exactly these bytes.
    Bytes(Payload),
    /// A regular expression.
    Regex(String),
}

impl ExpectConfig {
    fn build(&self) -> Result<Expect, ConfigError> {
        match self {
            ExpectConfig::Bytes(p) => Ok(Expect::Bytes(p.bytes()?)),
            ExpectConfig::Regex(r) => {
                Expect::regex(r).map_err(|e| ConfigError::Regex(r.clone(), e.to_string()))
            }
        }
    }
}

/// One step of a TCP conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TcpStepConfig {
    /// Send bytes.
    Send(Payload),
    /// Expect a reply.
    Expect(ExpectConfig),
}

/// One URL of an HTTP check (keepalived's `url` block).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UrlConfig {
    /// Path and query.
    pub path: String,
    /// Accepted statuses, e.g. `"200-204,301"`; any 2xx when absent.
    #[serde(default)]
    pub status_code: Option<String>,
    /// Expected MD5 of the body (genhash output).
    #[serde(default)]
    pub digest: Option<String>,
    /// Pattern the body must match.
    #[serde(default)]
    pub regex: Option<String>,
    /// Invert `regex`.
    #[serde(default)]
    pub regex_no_match: bool,
}

/// HTTPS settings (keepalived's `SSL_GET` and its `ssl` block).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Verify the certificate against `ca_file`.
    #[serde(default)]
    pub verify: bool,
    /// PEM file of trusted roots (required with `verify`).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// PEM client key.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// SNI name (keepalived's `enable_sni` uses the virtual host).
    #[serde(default)]
    pub sni: Option<String>,
}

fn default_helo() -> String {
    "localhost".into()
}

#[cfg(feature = "icmp")]
fn default_payload_len() -> usize {
    56
}

/// A checker and its settings, tagged by `type`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum CheckerConfig {
    /// `TCP_CHECK`.
    Tcp {
        /// Source address.
        #[serde(default)]
        bind_to: Option<SocketAddr>,
        /// Conversation after connecting.
        #[serde(default)]
        steps: Vec<TcpStepConfig>,
    },
    /// `UDP_CHECK`.
    Udp {
        /// Source address.
        #[serde(default)]
        bind_to: Option<SocketAddr>,
        /// Datagram to send.
        #[serde(default = "empty_payload")]
        payload: Payload,
        /// Expected reply (implies `require_reply`).
        #[serde(default)]
        expect: Option<ExpectConfig>,
        /// Require a reply.
        #[serde(default)]
        require_reply: bool,
    },
    /// `SMTP_CHECK`.
    Smtp {
        /// Source address.
        #[serde(default)]
        bind_to: Option<SocketAddr>,
        /// Name sent with HELO.
        #[serde(default = "default_helo")]
        helo_name: String,
    },
    /// `MISC_CHECK`.
    Misc {
        /// Command line (keepalived's `misc_path`), no shell involved.
        path: String,
        /// Script timeout; the check's `connect_timeout` when absent.
        #[serde(default, with = "opt_secs")]
        timeout: Option<Duration>,
        /// `misc_dynamic`.
        #[serde(default)]
        dynamic: bool,
        /// Run as this uid.
        #[serde(default)]
        uid: Option<u32>,
        /// Run as this gid.
        #[serde(default)]
        gid: Option<u32>,
    },
    /// `FILE_CHECK` / `track_file`.
    File {
        /// The tracked file.
        path: PathBuf,
        /// Multiplier (0: non-zero means down).
        #[serde(default)]
        weight: i64,
        /// Negate the offset.
        #[serde(default)]
        reverse: bool,
    },
    /// `HTTP_GET` / `SSL_GET`.
    #[cfg(feature = "http")]
    Http {
        /// URLs, all of which must pass.
        urls: Vec<UrlConfig>,
        /// `Host` header.
        #[serde(default)]
        virtualhost: Option<String>,
        /// Source address.
        #[serde(default)]
        bind_to: Option<SocketAddr>,
        /// Reuse connections.
        #[serde(default)]
        keep_alive: bool,
        /// HTTPS settings.
        #[cfg(feature = "tls")]
        #[serde(default)]
        tls: Option<TlsConfig>,
    },
    /// `DNS_CHECK`.
    #[cfg(feature = "dns")]
    Dns {
        /// Query name.
        name: String,
        /// Query type (`A`, `AAAA`, `SOA`, ...).
        #[serde(default = "default_dns_type", rename = "type_")]
        rtype: String,
        /// Accepted answer data.
        #[serde(default)]
        expect: Vec<String>,
    },
    /// `PING_CHECK`.
    #[cfg(feature = "icmp")]
    Ping {
        /// Payload size.
        #[serde(default = "default_payload_len")]
        payload_len: usize,
    },
}

fn empty_payload() -> Payload {
    Payload(String::new())
}

#[cfg(feature = "dns")]
fn default_dns_type() -> String {
    "SOA".into()
}

/// A whole check: the checker plus keepalived's timing keywords.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckConfig {
    /// The checker.
    pub checker: CheckerConfig,
    /// Interval between checks (`delay_loop`), seconds.
    #[serde(default = "d60", with = "secs")]
    pub delay_loop: Duration,
    /// Interval while down, seconds.
    #[serde(default, with = "opt_secs")]
    pub down_interval: Option<Duration>,
    /// Probe timeout (`connect_timeout`), seconds.
    #[serde(default = "d5", with = "secs")]
    pub connect_timeout: Duration,
    /// Retries of a failed probe (`retry`).
    #[serde(default)]
    pub retry: u32,
    /// Wait before a retry (`delay_before_retry`), seconds.
    #[serde(default = "d1", with = "secs")]
    pub delay_before_retry: Duration,
    /// Successes to go up.
    #[serde(default = "one")]
    pub rise: u32,
    /// Failures to go down.
    #[serde(default = "one")]
    pub fall: u32,
    /// Random first delay (`warmup`).
    #[serde(default)]
    pub warmup: bool,
    /// Jitter of each interval, seconds.
    #[serde(default = "d0", with = "secs")]
    pub jitter: Duration,
    /// Start down (`alpha`).
    #[serde(default)]
    pub alpha: bool,
}

fn d60() -> Duration {
    Duration::from_secs(60)
}
fn d5() -> Duration {
    Duration::from_secs(5)
}
fn d1() -> Duration {
    Duration::from_secs(1)
}
fn d0() -> Duration {
    Duration::ZERO
}
fn one() -> u32 {
    1
}

impl CheckConfig {
    /// The scheduler timing. The scheduler's timeout is `connect_timeout` plus a small
    /// margin (a tenth, at least 100 ms) so the checker's own timeout, which gives the
    /// precise reason, normally fires first.
    pub fn timing(&self) -> CheckTiming {
        let margin = (self.connect_timeout / 10).max(Duration::from_millis(100));
        let probe_timeout = match &self.checker {
            CheckerConfig::Misc {
                timeout: Some(t), ..
            } => *t,
            _ => self.connect_timeout,
        };
        CheckTiming {
            interval: self.delay_loop,
            down_interval: self.down_interval,
            timeout: probe_timeout + margin,
            rise: self.rise.max(1),
            fall: self.fall.max(1),
            retry: self.retry,
            delay_before_retry: self.delay_before_retry,
            warmup: self.warmup,
            jitter: self.jitter,
            alpha: self.alpha,
        }
    }

    /// The scheduler's spec for probing `target` with this check: the checker's
    /// canonical key, the target and [`CheckConfig::timing`]. Pass it with
    /// [`CheckConfig::build`]'s checker to `RunnerHandle::subscribe`.
    pub fn spec(&self, target: Target) -> CheckSpec {
        CheckSpec {
            checker: self.checker.key(),
            target,
            timing: self.timing(),
        }
    }

    /// The checker, with this check's `connect_timeout`.
    pub fn build(&self) -> Result<Arc<dyn Checker>, ConfigError> {
        self.checker.build_with_timeout(self.connect_timeout)
    }
}

#[cfg(feature = "tls")]
fn read(path: &PathBuf) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| ConfigError::File(path.clone(), e.to_string()))
}

impl CheckerConfig {
    /// A canonical identity of this configuration: equal configurations give equal keys.
    pub fn key(&self) -> CheckerKey {
        CheckerKey(serde_json::to_string(self).unwrap_or_else(|_| format!("{self:?}")))
    }

    /// Builds the checker with a 5 s timeout.
    pub fn build(&self) -> Result<Arc<dyn Checker>, ConfigError> {
        self.build_with_timeout(Duration::from_secs(5))
    }

    /// Builds the checker with `timeout` as its own probe timeout.
    pub fn build_with_timeout(&self, timeout: Duration) -> Result<Arc<dyn Checker>, ConfigError> {
        Ok(match self {
            CheckerConfig::Tcp { bind_to, steps } => {
                let mut c = TcpCheck::connect(timeout);
                c.bind = *bind_to;
                for s in steps {
                    c.steps.push(match s {
                        TcpStepConfig::Send(p) => TcpStep::Send(p.bytes()?),
                        TcpStepConfig::Expect(e) => TcpStep::Expect(e.build()?),
                    });
                }
                Arc::new(c)
            }
            CheckerConfig::Udp {
                bind_to,
                payload,
                expect,
                require_reply,
            } => {
                let mut c = UdpCheck::new(timeout, payload.bytes()?);
                c.bind = *bind_to;
                c.require_reply = *require_reply;
                if let Some(e) = expect {
                    c = c.expect(e.build()?);
                }
                Arc::new(c)
            }
            CheckerConfig::Smtp { bind_to, helo_name } => {
                let mut c = SmtpCheck::new(timeout, helo_name.clone());
                c.bind = *bind_to;
                Arc::new(c)
            }
            CheckerConfig::Misc {
                path,
                timeout: t,
                dynamic,
                uid,
                gid,
            } => {
                let mut c = MiscCheck::from_command_line(path, t.unwrap_or(timeout))
                    .ok_or_else(|| ConfigError::Invalid(format!("bad misc_path {path:?}")))?;
                c.dynamic = *dynamic;
                c.uid = *uid;
                c.gid = *gid;
                Arc::new(c)
            }
            CheckerConfig::File {
                path,
                weight,
                reverse,
            } => {
                let mut c = FileCheck::new(path.clone(), *weight);
                c.reverse = *reverse;
                c.timeout = timeout;
                Arc::new(c)
            }
            #[cfg(feature = "http")]
            CheckerConfig::Http {
                urls,
                virtualhost,
                bind_to,
                keep_alive,
                #[cfg(feature = "tls")]
                tls,
            } => {
                use crate::checkers::{HttpCheck, StatusSet, UrlCheck};
                let mut built = Vec::new();
                for u in urls {
                    let mut uc = UrlCheck::new(&u.path).ok_or_else(|| {
                        ConfigError::Invalid(format!("bad url path {:?}", u.path))
                    })?;
                    if let Some(s) = &u.status_code {
                        uc.status = StatusSet::parse(s).ok_or_else(|| {
                            ConfigError::Invalid(format!("bad status_code {s:?}"))
                        })?;
                    }
                    uc.digest = u.digest.clone();
                    if let Some(r) = &u.regex {
                        uc.body = Some(
                            regex::bytes::Regex::new(r)
                                .map_err(|e| ConfigError::Regex(r.clone(), e.to_string()))?,
                        );
                    }
                    uc.body_no_match = u.regex_no_match;
                    built.push(uc);
                }
                if built.is_empty() {
                    return Err(ConfigError::Invalid("http check without url".into()));
                }
                let mut c = HttpCheck::new(timeout, built.remove(0));
                c.urls.extend(built);
                c.virtual_host = virtualhost.clone();
                c.bind = *bind_to;
                c.keep_alive = *keep_alive;
                #[cfg(feature = "tls")]
                if let Some(t) = tls {
                    c.tls = Some(build_tls(t)?);
                }
                Arc::new(c)
            }
            #[cfg(feature = "dns")]
            CheckerConfig::Dns {
                name,
                rtype,
                expect,
            } => {
                let mut c = crate::checkers::DnsCheck::new(timeout, name, rtype)
                    .map_err(|e| ConfigError::Invalid(e.to_string()))?;
                c.expect = expect.clone();
                Arc::new(c)
            }
            #[cfg(feature = "icmp")]
            CheckerConfig::Ping { payload_len } => {
                let mut c = crate::checkers::IcmpCheck::new(timeout);
                c.payload_len = (*payload_len).min(1400);
                Arc::new(c)
            }
        })
    }
}

#[cfg(feature = "tls")]
fn build_tls(t: &TlsConfig) -> Result<crate::checkers::TlsClient, ConfigError> {
    use crate::checkers::{TlsClient, TlsVerify, certs_from_pem, key_from_pem, roots_from_pem};
    let invalid = |e: crate::checkers::TlsSetupError| ConfigError::Invalid(e.to_string());
    let verify = if t.verify {
        let ca = t
            .ca_file
            .as_ref()
            .ok_or_else(|| ConfigError::Invalid("tls verify needs ca_file".into()))?;
        TlsVerify::Roots(roots_from_pem(&read(ca)?).map_err(invalid)?)
    } else {
        TlsVerify::Skip
    };
    let auth = match (&t.cert_file, &t.key_file) {
        (Some(c), Some(k)) => Some((
            certs_from_pem(&read(c)?).map_err(invalid)?,
            key_from_pem(&read(k)?).map_err(invalid)?,
        )),
        (None, None) => None,
        _ => {
            return Err(ConfigError::Invalid(
                "tls needs both cert_file and key_file".into(),
            ));
        }
    };
    let mut client = TlsClient::new(verify, auth).map_err(invalid)?;
    if let Some(sni) = &t.sni {
        client = client.with_sni(sni).map_err(invalid)?;
    }
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_payloads() {
        assert_eq!(
            Payload("hex:00ff 10".into()).bytes().unwrap(),
            vec![0, 255, 16]
        );
        assert_eq!(Payload("abc".into()).bytes().unwrap(), b"abc");
        assert!(Payload("hex:0".into()).bytes().is_err());
        assert!(Payload("hex:zz".into()).bytes().is_err());
        assert!(Payload("hex:é1".into()).bytes().is_err());
    }

    #[test]
    fn defaults_follow_keepalived() {
        let c: CheckConfig = serde_json::from_str(r#"{"checker":{"type":"tcp"}}"#).unwrap();
        let t = c.timing();
        assert_eq!(t.interval, Duration::from_secs(60));
        assert_eq!(t.timeout, Duration::from_millis(5500));
        assert_eq!((t.rise, t.fall, t.retry), (1, 1, 0));
        assert!(c.build().is_ok());
    }

    #[test]
    fn identical_checker_blocks_have_equal_keys() {
        let a: CheckerConfig = serde_json::from_str(r#"{"type":"smtp","helo_name":"lb"}"#).unwrap();
        let b: CheckerConfig = serde_json::from_str(r#"{"helo_name":"lb","type":"smtp"}"#).unwrap();
        let c: CheckerConfig =
            serde_json::from_str(r#"{"type":"smtp","helo_name":"lb2"}"#).unwrap();
        assert_eq!(a.key(), b.key());
        assert_ne!(a.key(), c.key());
    }

    #[test]
    #[cfg(all(feature = "tls", feature = "dns", feature = "icmp"))]
    fn every_checker_builds() {
        for json in [
            r#"{"type":"tcp","steps":[{"send":"PING\r\n"},{"expect":{"regex":"^\\+PONG"}}]}"#,
            r#"{"type":"udp","payload":"hex:01","expect":{"bytes":"ok"}}"#,
            r#"{"type":"smtp"}"#,
            r#"{"type":"misc","path":"/bin/check 'a b'","dynamic":true,"timeout":2.5}"#,
            r#"{"type":"file","path":"/run/weight","weight":-10}"#,
            r#"{"type":"http","urls":[{"path":"/","status_code":"200,301","regex":"ok"}],"tls":{"sni":"a.test"}}"#,
            r#"{"type":"dns","name":"example.test.","type_":"A","expect":["192.0.2.1"]}"#,
            r#"{"type":"ping"}"#,
        ] {
            let c: CheckerConfig =
                serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"));
            c.build().unwrap_or_else(|e| panic!("{json}: {e}"));
            let back: CheckerConfig =
                serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
            assert_eq!(back, c);
        }
    }

    #[test]
    #[cfg(all(feature = "tls", feature = "dns", feature = "icmp"))]
    fn bad_configs_are_errors() {
        for json in [
            r#"{"type":"tcp","steps":[{"expect":{"regex":"("}}]}"#,
            r#"{"type":"misc","path":""}"#,
            r#"{"type":"http","urls":[]}"#,
            r#"{"type":"http","urls":[{"path":"/","status_code":"abc"}]}"#,
            r#"{"type":"http","urls":[{"path":"/"}],"tls":{"verify":true}}"#,
            r#"{"type":"dns","name":"x.","type_":"BOGUS"}"#,
        ] {
            let c: CheckerConfig = serde_json::from_str(json).unwrap();
            assert!(c.build().is_err(), "{json}");
        }
        assert!(serde_json::from_str::<CheckerConfig>(r#"{"type":"tcp","bogus":1}"#).is_err());
    }
}
