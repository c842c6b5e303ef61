//! Scripts as keepalived runs them: the command line split into words (no shell), the
//! script user, and script security.
//!
//! - A script string is split like a shell would split simple words: whitespace
//!   separates, single and double quotes group, a backslash escapes the next character.
//!   No expansion happens and no shell is started.
//! - The user: a script's own `user` if it has one, else `global_defs { script_user }`,
//!   else the user `keepalived_script` if it exists, as in keepalived. Where keepalived
//!   would then fall back to root, scripts run as `nobody` here: a script runs as root
//!   only when the configuration says so (`script_user root`, or `user root`).
//! - `enable_script_security`: a script that would run as root is refused when the file
//!   or a directory above it can be changed by someone other than root (owned by another
//!   user, or writable by group or others without the sticky bit on a directory).

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A command line split into program and arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandLine {
    /// The program (first word).
    pub program: PathBuf,
    /// The remaining words.
    pub args: Vec<String>,
}

/// Why a script string cannot be run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    /// Nothing but whitespace.
    #[error("empty script")]
    Empty,
    /// A quote is not closed.
    #[error("unterminated quote in script {0:?}")]
    UnterminatedQuote(String),
    /// The user or group does not exist.
    #[error("unknown {kind} {name:?}")]
    UnknownAccount {
        /// `user` or `group`.
        kind: &'static str,
        /// The name given.
        name: String,
    },
    /// `enable_script_security` refuses the script.
    #[error("{path} is not secure: {why} (enable_script_security)")]
    Insecure {
        /// The file or directory at fault.
        path: String,
        /// What is wrong with it.
        why: String,
    },
}

/// Splits a script string into words: whitespace separates, `'...'` and `"..."` group, a
/// backslash escapes the next character (outside single quotes).
pub fn split_words(text: &str) -> Result<Vec<String>, ScriptError> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => current.push(ch),
                        None => return Err(ScriptError::UnterminatedQuote(text.into())),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch) => current.push(ch),
                            None => return Err(ScriptError::UnterminatedQuote(text.into())),
                        },
                        Some(ch) => current.push(ch),
                        None => return Err(ScriptError::UnterminatedQuote(text.into())),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(ch) = chars.next() {
                    current.push(ch);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                current.push(c);
            }
        }
    }
    if in_word {
        words.push(current);
    }
    Ok(words)
}

/// Parses a script string into a [`CommandLine`].
pub fn command_line(text: &str) -> Result<CommandLine, ScriptError> {
    let mut words = split_words(text)?.into_iter();
    let program = words.next().ok_or(ScriptError::Empty)?;
    Ok(CommandLine {
        program: PathBuf::from(program),
        args: words.collect(),
    })
}

/// A user and group id to run scripts as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Account {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

impl Account {
    /// root.
    pub const ROOT: Account = Account { uid: 0, gid: 0 };
    /// `nobody` / `nogroup` by their usual ids, when the account files lack them.
    pub const NOBODY: Account = Account {
        uid: 65534,
        gid: 65534,
    };
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "uid {} gid {}", self.uid, self.gid)
    }
}

/// Looks names up in `passwd` and `group` files (no NSS: the files only).
#[derive(Clone, Debug)]
pub struct AccountDb {
    passwd: String,
    group: String,
}

impl AccountDb {
    /// The system's `/etc/passwd` and `/etc/group` (missing files read as empty).
    pub fn system() -> AccountDb {
        AccountDb {
            passwd: std::fs::read_to_string("/etc/passwd").unwrap_or_default(),
            group: std::fs::read_to_string("/etc/group").unwrap_or_default(),
        }
    }

    /// A database from file contents, for tests.
    pub fn from_text(passwd: &str, group: &str) -> AccountDb {
        AccountDb {
            passwd: passwd.into(),
            group: group.into(),
        }
    }

    fn user(&self, name: &str) -> Option<(u32, u32)> {
        self.passwd.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 4 && f[0] == name)
                .then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
                .flatten()
        })
    }

    fn group(&self, name: &str) -> Option<u32> {
        self.group.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 3 && f[0] == name)
                .then(|| f[2].parse().ok())
                .flatten()
        })
    }

    /// Resolves `user [group]` (numeric ids are accepted); the group defaults to the
    /// user's primary group.
    pub fn resolve(&self, user: &str, group: Option<&str>) -> Result<Account, ScriptError> {
        let (uid, primary) = match self.user(user) {
            Some(ids) => ids,
            None => match user.parse::<u32>() {
                Ok(uid) => (uid, uid),
                Err(_) => {
                    return Err(ScriptError::UnknownAccount {
                        kind: "user",
                        name: user.into(),
                    });
                }
            },
        };
        let gid = match group {
            None => primary,
            Some(g) => match self.group(g).or_else(|| g.parse().ok()) {
                Some(gid) => gid,
                None => {
                    return Err(ScriptError::UnknownAccount {
                        kind: "group",
                        name: g.into(),
                    });
                }
            },
        };
        Ok(Account { uid, gid })
    }

    /// The default script account: `script_user` if configured, else
    /// `keepalived_script` if that user exists, else `nobody` (keepalived would use
    /// root; here root must be asked for).
    pub fn default_account(
        &self,
        script_user: Option<&(String, Option<String>)>,
    ) -> Result<Account, ScriptError> {
        match script_user {
            Some((user, group)) => self.resolve(user, group.as_deref()),
            None => Ok(self
                .resolve("keepalived_script", None)
                .or_else(|_| self.resolve("nobody", None))
                .unwrap_or(Account::NOBODY)),
        }
    }
}

/// `enable_script_security`'s check of a script about to run as `account`: only scripts
/// run as root are checked (a script run as another user cannot gain more than that
/// user has). Relative programs are looked up in `PATH` first.
pub fn check_secure(program: &Path, account: Account) -> Result<(), ScriptError> {
    if account.uid != 0 {
        return Ok(());
    }
    let resolved = resolve_program(program);
    let mut path = resolved.as_path();
    let mut first = true;
    loop {
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.mode();
            let sticky_dir = meta.is_dir() && mode & 0o1000 != 0;
            let why = if meta.uid() != 0 {
                Some(format!("owned by uid {}", meta.uid()))
            } else if mode & 0o022 != 0 && !sticky_dir {
                Some(format!(
                    "writable by {}",
                    if mode & 0o002 != 0 {
                        "others"
                    } else {
                        "its group"
                    }
                ))
            } else {
                None
            };
            // A sticky directory still lets others create files in it, but not replace
            // ours; the script file itself must be safe in any case.
            if let Some(why) = why {
                if first || !sticky_dir {
                    return Err(ScriptError::Insecure {
                        path: path.display().to_string(),
                        why,
                    });
                }
            }
        }
        first = false;
        match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => path = p,
            _ => return Ok(()),
        }
    }
}

/// An absolute path for `program`: itself if it has a slash, else the first match in
/// `PATH`.
pub fn resolve_program(program: &Path) -> PathBuf {
    if program.components().count() > 1 || program.is_absolute() {
        return program.to_path_buf();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| program.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_like_keepalived_scripts() {
        assert_eq!(
            split_words(r#"/bin/notify "a b" 'c d' e\ f"#).unwrap(),
            vec!["/bin/notify", "a b", "c d", "e f"]
        );
        assert_eq!(split_words("  x   y ").unwrap(), vec!["x", "y"]);
        assert_eq!(split_words(r#""""#).unwrap(), vec![""]);
        assert!(split_words("'open").is_err());
        assert_eq!(command_line("   "), Err(ScriptError::Empty));
        let c = command_line("/usr/bin/true 1 2").unwrap();
        assert_eq!(c.program, PathBuf::from("/usr/bin/true"));
        assert_eq!(c.args, vec!["1", "2"]);
    }

    #[test]
    fn accounts_resolve_from_files() {
        let db = AccountDb::from_text(
            "root:x:0:0::/root:/bin/sh\nkeepalived_script:x:998:997::/:/usr/sbin/nologin\n",
            "root:x:0:\nnogroup:x:65534:\n",
        );
        assert_eq!(
            db.default_account(None).unwrap(),
            Account { uid: 998, gid: 997 }
        );
        assert_eq!(
            db.default_account(Some(&("root".into(), Some("nogroup".into()))))
                .unwrap(),
            Account { uid: 0, gid: 65534 }
        );
        assert_eq!(db.resolve("1234", None).unwrap().uid, 1234);
        assert!(matches!(
            db.resolve("nobody-here", None),
            Err(ScriptError::UnknownAccount { kind: "user", .. })
        ));
        assert!(db.resolve("root", Some("nogroup-here")).is_err());
        // Without keepalived_script: nobody, never root by default.
        let without = AccountDb::from_text(
            "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/usr/sbin/nologin\n",
            "",
        );
        assert_eq!(without.default_account(None).unwrap(), Account::NOBODY);
        let bare = AccountDb::from_text("root:x:0:0::/root:/bin/sh\n", "");
        assert_eq!(bare.default_account(None).unwrap(), Account::NOBODY);
        assert_eq!(
            bare.default_account(Some(&("root".into(), None))).unwrap(),
            Account::ROOT
        );
    }

    #[test]
    fn insecure_scripts_are_refused_for_root_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("hakeepd-sec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("s.sh");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o777)).unwrap();
        let root_run = check_secure(&script, Account::ROOT);
        let user_run = check_secure(
            &script,
            Account {
                uid: 1000,
                gid: 1000,
            },
        );
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let fixed = check_secure(&script, Account::ROOT);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(root_run, Err(ScriptError::Insecure { .. })));
        assert!(user_run.is_ok());
        // Owned by whoever runs the test: secure only when that is root.
        assert_eq!(fixed.is_ok(), rustix::process::geteuid().is_root());
    }
}
