//! FILE check: an integer read from a file gives the verdict or a weight.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::AsyncReadExt;

use super::bounded;
use crate::checker::Checker;
use crate::outcome::{CheckOutcome, FailureReason, Target, Weight};

/// keepalived's `FILE_CHECK` with `track_file` semantics: the file holds an integer.
///
/// - `weight == 0`: a non-zero value is a failure ([`FailureReason::FileValue`]), zero is
///   a success.
/// - otherwise the check succeeds with [`Weight::Offset`]`(value × weight)` (negated with
///   `reverse`), which the consumer adds to the real server's configured weight.
///
/// Leading whitespace is skipped and anything after the number is ignored; a missing file
/// or one without a leading integer is [`FailureReason::File`].
#[derive(Clone, Debug)]
pub struct FileCheck {
    /// The tracked file.
    pub path: PathBuf,
    /// Multiplier of the file's value; 0 means "non-zero is down".
    pub weight: i64,
    /// Negate the resulting offset.
    pub reverse: bool,
    /// Read timeout (a file on a hung network file system must not hang the check).
    pub timeout: Duration,
}

/// Bytes read from the file at most.
const MAX_FILE: u64 = 256;

impl FileCheck {
    /// A check of `path` with `weight`.
    pub fn new(path: impl Into<PathBuf>, weight: i64) -> Self {
        FileCheck {
            path: path.into(),
            weight,
            reverse: false,
            timeout: Duration::from_secs(1),
        }
    }

    /// The verdict for a value read from the file.
    pub fn verdict(&self, value: i64) -> CheckOutcome {
        if self.weight == 0 {
            return if value == 0 {
                CheckOutcome::OK
            } else {
                CheckOutcome::Failure(FailureReason::FileValue(value))
            };
        }
        let offset = value.saturating_mul(self.weight);
        let offset = if self.reverse {
            offset.saturating_neg()
        } else {
            offset
        };
        CheckOutcome::Success {
            weight: Some(Weight::Offset(offset)),
        }
    }

    async fn run(&self) -> Result<CheckOutcome, FailureReason> {
        let file = tokio::fs::File::open(&self.path)
            .await
            .map_err(|e| FailureReason::File(e.to_string()))?;
        let mut data = Vec::new();
        file.take(MAX_FILE)
            .read_to_end(&mut data)
            .await
            .map_err(|e| FailureReason::File(e.to_string()))?;
        let value = parse_leading_int(&data)
            .ok_or_else(|| FailureReason::File("no integer at the start of the file".into()))?;
        Ok(self.verdict(value))
    }
}

/// Parses an optionally signed decimal integer after leading whitespace.
pub(crate) fn parse_leading_int(data: &[u8]) -> Option<i64> {
    let start = data.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = &data[start..];
    let sign = usize::from(matches!(rest.first(), Some(b'+' | b'-')));
    let digits = rest[sign..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits == 0 {
        return None;
    }
    std::str::from_utf8(&rest[..sign + digits])
        .ok()?
        .parse()
        .ok()
}

#[async_trait]
impl Checker for FileCheck {
    async fn check(&self, _target: &Target) -> CheckOutcome {
        bounded(self.timeout, self.run()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_integers() {
        assert_eq!(parse_leading_int(b"42\n"), Some(42));
        assert_eq!(parse_leading_int(b"  -7 rest"), Some(-7));
        assert_eq!(parse_leading_int(b"+3"), Some(3));
        assert_eq!(parse_leading_int(b"x1"), None);
        assert_eq!(parse_leading_int(b""), None);
        assert_eq!(parse_leading_int(b"-"), None);
        assert_eq!(parse_leading_int(b"99999999999999999999"), None);
        assert_eq!(parse_leading_int(b"5\xff\xfe"), Some(5));
    }

    #[test]
    fn track_file_semantics() {
        let zero = FileCheck::new("/x", 0);
        assert_eq!(zero.verdict(0), CheckOutcome::OK);
        assert_eq!(
            zero.verdict(3),
            CheckOutcome::Failure(FailureReason::FileValue(3))
        );
        let mut w = FileCheck::new("/x", -10);
        assert_eq!(
            w.verdict(2),
            CheckOutcome::Success {
                weight: Some(Weight::Offset(-20))
            }
        );
        w.reverse = true;
        assert_eq!(
            w.verdict(2),
            CheckOutcome::Success {
                weight: Some(Weight::Offset(20))
            }
        );
        assert_eq!(
            w.verdict(i64::MAX),
            CheckOutcome::Success {
                weight: Some(Weight::Offset(i64::MAX))
            }
        );
    }
}
