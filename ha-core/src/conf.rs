//! The keepalived.conf grammar: a tree of keyword lines and blocks, with source spans.
//!
//! This module owns the *grammar* only; each protocol crate maps its own sections
//! (`vrrp_instance`, `virtual_server`, `bfd_instance`, …) from the tree. Supported, as
//! keepalived reads them:
//!
//! - statements `keyword arg arg …`, one per line, and blocks `keyword args { … }`, with
//!   braces anywhere on a line (`authentication { auth_type PASS }` works);
//! - `#` and `!` comments, to the end of the line;
//! - double-quoted arguments (`"/usr/bin/check script"`);
//! - `include PATTERN` with glob patterns (`*`, `?`, `[…]`), relative to the including
//!   file's directory, nested, with a depth limit;
//! - `$NAME=value` definitions, multi-line when a line ends in `\`, expanded as `$NAME` or
//!   `${NAME}` on later lines (a multi-line value expands to several lines);
//! - `@ID` / `@^ID` conditional lines, kept when the configuration id is (is not) `ID`;
//! - `~SEQ(VAR, START, STEP, END)` and `~SEQ(VAR, START, END)` line repetition.
//!
//! Every error carries `file:line:col`. Files are read through a [`Source`], so the parser
//! runs on an in-memory map in tests and fuzzing.
//!
//! ```
//! use ha_core::conf::{parse_str, Options};
//!
//! let text = "$IF=eth0\nvrrp_instance VI_1 {\n  interface $IF\n  virtual_ipaddress { 10.0.0.1/24 }\n}\n";
//! let conf = parse_str(text, &Options::default()).unwrap();
//! let vi = &conf.nodes[0];
//! assert_eq!((vi.keyword.as_str(), vi.args.as_slice()), ("vrrp_instance", &["VI_1".to_string()][..]));
//! assert_eq!(vi.child("interface").unwrap().args, vec!["eth0"]);
//! assert_eq!(vi.child("virtual_ipaddress").unwrap().children[0].keyword, "10.0.0.1/24");
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use thiserror::Error;

/// Where something is in the configuration.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize)]
pub struct Span {
    /// The file (as given, or as found by an include).
    #[serde(serialize_with = "serialize_arc_str")]
    pub file: Arc<str>,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub col: u32,
}

fn serialize_arc_str<S: serde::Serializer>(s: &Arc<str>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(s)
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// A keyword a mapping read but does not act on, or does not know, with where it is.
/// Every crate's keepalived.conf mapping reports these; nothing is silently ignored.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct Warning {
    /// Where.
    pub span: Span,
    /// What.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.span, self.message)
    }
}

/// A section a mapping cannot turn into configuration, with where it is.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
#[error("{span}: {message}")]
pub struct MapError {
    /// Where.
    pub span: Span,
    /// What.
    pub message: String,
}

/// One keyword line, with its block if it has one.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct Node {
    /// The first word.
    pub keyword: String,
    /// The other words.
    pub args: Vec<String>,
    /// The statements of its `{ … }` block (empty without a block).
    pub children: Vec<Node>,
    /// Whether it had a block (an empty block still counts).
    pub block: bool,
    /// Where the keyword is.
    pub span: Span,
}

impl Node {
    /// The first child with this keyword.
    pub fn child(&self, keyword: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.keyword == keyword)
    }

    /// Every child with this keyword.
    pub fn children_named<'a>(&'a self, keyword: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.keyword == keyword)
    }

    /// The first argument.
    pub fn arg(&self) -> Option<&str> {
        self.args.first().map(String::as_str)
    }
}

/// A parsed configuration.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize)]
pub struct Config {
    /// The top-level statements, includes expanded.
    pub nodes: Vec<Node>,
    /// Every file read, in order.
    pub files: Vec<PathBuf>,
}

impl Config {
    /// Every top-level node with this keyword.
    pub fn sections<'a>(&'a self, keyword: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.nodes.iter().filter(move |n| n.keyword == keyword)
    }
}

/// What went wrong.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
pub enum ErrorKind {
    /// A file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        reason: String,
    },
    /// An include pattern matched nothing (keepalived ignores it; we report it as an error
    /// only for the top-level file).
    #[error("include {0}: no file matches")]
    IncludeNoMatch(String),
    /// Includes nested too deeply (a loop, most likely).
    #[error("includes nested more than {0} deep")]
    IncludeDepth(usize),
    /// A `}` without its `{`.
    #[error("unexpected '}}'")]
    UnexpectedClose,
    /// A `{` that is never closed.
    #[error("block opened here is never closed")]
    Unclosed,
    /// A `{` with no keyword before it.
    #[error("'{{' without a keyword")]
    BlockWithoutKeyword,
    /// A `"` without its closing quote.
    #[error("unterminated quoted string")]
    UnterminatedQuote,
    /// A malformed `$NAME=value` definition or reference.
    #[error("bad parameter: {0}")]
    Parameter(String),
    /// A malformed `~SEQ(...)`.
    #[error("bad ~SEQ: {0}")]
    Seq(String),
    /// The expansion grew beyond the limit (a parameter that expands into itself, or a huge
    /// sequence).
    #[error("configuration expands to more than {0} lines")]
    TooLarge(usize),
    /// Blocks nested deeper than [`MAX_BLOCK_DEPTH`]. keepalived's deepest section
    /// (`virtual_server` → `real_server` → `HTTP_GET` → `url`) is four levels; the limit
    /// keeps every consumer that walks the tree (including dropping it) off a stack
    /// overflow.
    #[error("blocks nested more than {0} deep")]
    TooDeep(usize),
}

/// The deepest block nesting the parser accepts; see [`ErrorKind::TooDeep`].
pub const MAX_BLOCK_DEPTH: usize = 64;

/// A parse error with its location.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
#[error("{span}: {kind}")]
pub struct ParseError {
    /// Where.
    pub span: Span,
    /// What.
    pub kind: ErrorKind,
}

/// Where configuration files come from.
pub trait Source {
    /// Reads a whole file.
    fn read(&self, path: &Path) -> io::Result<String>;
    /// Lists the entries of a directory (file and directory names).
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
}

/// The real file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct FsSource;

impl Source for FsSource {
    fn read(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        Ok(names)
    }
}

/// Files held in memory, keyed by path: for tests and fuzzing.
#[derive(Clone, Debug, Default)]
pub struct MemSource {
    /// Path → contents.
    pub files: BTreeMap<PathBuf, String>,
}

impl Source for MemSource {
    fn read(&self, path: &Path) -> io::Result<String> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names: Vec<String> = self
            .files
            .keys()
            .filter_map(|p| p.strip_prefix(dir).ok())
            .filter_map(|rest| rest.components().next())
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        names.dedup();
        Ok(names)
    }
}

/// Parser options.
#[derive(Clone, Debug)]
pub struct Options {
    /// The configuration id for `@ID` lines (keepalived's `-i`; defaults to the host name
    /// there). `None`: every `@ID` line is dropped and every `@^ID` line kept.
    pub config_id: Option<String>,
    /// Maximum include depth.
    pub max_include_depth: usize,
    /// Maximum number of lines after expansion.
    pub max_lines: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            config_id: None,
            max_include_depth: 16,
            max_lines: 1_000_000,
        }
    }
}

/// Parses `path` and everything it includes from the file system.
pub fn parse_file(path: impl AsRef<Path>, options: &Options) -> Result<Config, ParseError> {
    parse_with(&FsSource, path.as_ref(), options)
}

/// Parses configuration text (as if from a file named `<string>`; includes are relative
/// to the current directory).
pub fn parse_str(text: &str, options: &Options) -> Result<Config, ParseError> {
    let mut source = MemSource::default();
    source
        .files
        .insert(PathBuf::from("<string>"), text.to_string());
    parse_with(&source, Path::new("<string>"), options)
}

/// Parses `path` read through `source`.
pub fn parse_with(
    source: &dyn Source,
    path: &Path,
    options: &Options,
) -> Result<Config, ParseError> {
    let mut lines = Vec::new();
    let mut params = BTreeMap::new();
    let mut files = Vec::new();
    let start = Span {
        file: Arc::from(path.to_string_lossy().as_ref()),
        line: 0,
        col: 0,
    };
    let text = source.read(path).map_err(|e| ParseError {
        span: start.clone(),
        kind: ErrorKind::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        },
    })?;
    files.push(path.to_path_buf());
    let mut ctx = Expand {
        source,
        options,
        params: &mut params,
        lines: &mut lines,
        files: &mut files,
    };
    ctx.file(path, &text, 0)?;
    let nodes = build_tree(&lines)?;
    Ok(Config { nodes, files })
}

/// One logical line after expansion: tokens with their columns.
struct Line {
    file: Arc<str>,
    line: u32,
    tokens: Vec<(String, u32)>,
}

struct Expand<'a> {
    source: &'a dyn Source,
    options: &'a Options,
    params: &'a mut BTreeMap<String, Vec<String>>,
    lines: &'a mut Vec<Line>,
    files: &'a mut Vec<PathBuf>,
}

impl Expand<'_> {
    fn file(&mut self, path: &Path, text: &str, depth: usize) -> Result<(), ParseError> {
        let file: Arc<str> = Arc::from(path.to_string_lossy().as_ref());
        let raw: Vec<&str> = text.lines().collect();
        let mut i = 0;
        while i < raw.len() {
            let line_no = i as u32 + 1;
            let span = |col: u32| Span {
                file: file.clone(),
                line: line_no,
                col,
            };
            let mut line = raw[i].to_string();
            i += 1;
            let trimmed = line.trim_start();
            // $NAME=value definitions, continued by a trailing backslash.
            if let Some(def) = trimmed.strip_prefix('$') {
                if let Some((name, value)) = def.split_once('=') {
                    let name = name.trim();
                    if !valid_name(name) {
                        return Err(ParseError {
                            span: span(1),
                            kind: ErrorKind::Parameter(format!("invalid name {name:?}")),
                        });
                    }
                    let mut values = vec![value.to_string()];
                    while values.last().is_some_and(|v| v.trim_end().ends_with('\\'))
                        && i < raw.len()
                    {
                        if let Some(last) = values.last_mut() {
                            let t = last.trim_end();
                            *last = t[..t.len() - 1].to_string();
                        }
                        values.push(raw[i].to_string());
                        i += 1;
                    }
                    if let Some(last) = values.last_mut() {
                        if last.trim_end().ends_with('\\') {
                            let t = last.trim_end();
                            *last = t[..t.len() - 1].to_string();
                        }
                    }
                    self.params.insert(name.to_string(), values);
                    continue;
                }
            }
            // @ID conditional lines.
            if let Some(rest) = line.trim_start().strip_prefix('@') {
                let (negate, rest) = match rest.strip_prefix('^') {
                    Some(r) => (true, r),
                    None => (false, rest),
                };
                let id_len = rest.find(char::is_whitespace).unwrap_or(rest.len());
                let (id, rest) = rest.split_at(id_len);
                let matches = self.options.config_id.as_deref() == Some(id);
                if matches == negate {
                    continue;
                }
                line = rest.to_string();
            }
            for expanded in self.substitute(&line, &span)? {
                for sequenced in expand_seq(&expanded, &span)? {
                    self.tokenize(&file, line_no, &sequenced, depth)?;
                }
            }
        }
        Ok(())
    }

    /// Expands `$NAME` / `${NAME}`; a multi-line value yields several lines.
    fn substitute(
        &self,
        line: &str,
        span: &impl Fn(u32) -> Span,
    ) -> Result<Vec<String>, ParseError> {
        if !line.contains('$') {
            return Ok(vec![line.to_string()]);
        }
        let mut out = vec![String::new()];
        let mut rest = line;
        let mut rounds = 0;
        while let Some(pos) = rest.find('$') {
            rounds += 1;
            if rounds > 1000 {
                return Err(ParseError {
                    span: span(1),
                    kind: ErrorKind::TooLarge(1000),
                });
            }
            let (before, after) = rest.split_at(pos);
            push_all(&mut out, before);
            let after = &after[1..];
            let (name, tail) = if let Some(braced) = after.strip_prefix('{') {
                match braced.find('}') {
                    Some(end) => (&braced[..end], &braced[end + 1..]),
                    None => {
                        return Err(ParseError {
                            span: span(pos as u32 + 1),
                            kind: ErrorKind::Parameter("unclosed ${".into()),
                        });
                    }
                }
            } else {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], &after[end..])
            };
            match self.params.get(name) {
                Some(values) if !name.is_empty() => {
                    let first = &values[0];
                    push_all(&mut out, first);
                    for extra in &values[1..] {
                        out.push(extra.clone());
                    }
                }
                // Unknown parameters are left as written, as keepalived does ($ is also
                // legal in script arguments).
                _ => {
                    push_all(&mut out, "$");
                    if after.starts_with('{') {
                        push_all(&mut out, "{");
                        push_all(&mut out, name);
                        push_all(&mut out, "}");
                    } else {
                        push_all(&mut out, name);
                    }
                }
            }
            rest = tail;
        }
        push_all(&mut out, rest);
        Ok(out)
    }

    fn tokenize(
        &mut self,
        file: &Arc<str>,
        line_no: u32,
        text: &str,
        depth: usize,
    ) -> Result<(), ParseError> {
        let span = |col: u32| Span {
            file: file.clone(),
            line: line_no,
            col,
        };
        let mut tokens: Vec<(String, u32)> = Vec::new();
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let mut k = 0;
        while k < chars.len() {
            let (_, c) = chars[k];
            let col = k as u32 + 1;
            if c.is_whitespace() {
                k += 1;
            } else if c == '#' || c == '!' {
                break;
            } else if c == '{' || c == '}' {
                tokens.push((c.to_string(), col));
                k += 1;
            } else if c == '"' {
                let mut s = String::new();
                k += 1;
                let mut closed = false;
                while k < chars.len() {
                    let (_, d) = chars[k];
                    k += 1;
                    if d == '"' {
                        closed = true;
                        break;
                    }
                    s.push(d);
                }
                if !closed {
                    return Err(ParseError {
                        span: span(col),
                        kind: ErrorKind::UnterminatedQuote,
                    });
                }
                tokens.push((s, col));
            } else {
                let mut s = String::new();
                while k < chars.len() {
                    let (_, d) = chars[k];
                    if d.is_whitespace() || d == '{' || d == '}' || d == '"' {
                        break;
                    }
                    s.push(d);
                    k += 1;
                }
                tokens.push((s, col));
            }
        }
        if tokens.first().is_some_and(|(t, _)| t == "include") {
            let col = tokens[0].1;
            let patterns: Vec<String> = tokens[1..].iter().map(|(t, _)| t.clone()).collect();
            return self.include(file, line_no, col, &patterns, depth);
        }
        if !tokens.is_empty() {
            if self.lines.len() >= self.options.max_lines {
                return Err(ParseError {
                    span: span(1),
                    kind: ErrorKind::TooLarge(self.options.max_lines),
                });
            }
            self.lines.push(Line {
                file: file.clone(),
                line: line_no,
                tokens,
            });
        }
        Ok(())
    }

    fn include(
        &mut self,
        file: &Arc<str>,
        line_no: u32,
        col: u32,
        patterns: &[String],
        depth: usize,
    ) -> Result<(), ParseError> {
        let span = Span {
            file: file.clone(),
            line: line_no,
            col,
        };
        if depth + 1 > self.options.max_include_depth {
            return Err(ParseError {
                span,
                kind: ErrorKind::IncludeDepth(self.options.max_include_depth),
            });
        }
        let base = Path::new(file.as_ref())
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        for pattern in patterns {
            let full = normalize(&if Path::new(pattern).is_absolute() {
                PathBuf::from(pattern)
            } else {
                base.join(pattern)
            });
            let mut matches = glob(self.source, &full);
            matches.sort();
            if matches.is_empty() && !has_wildcard(pattern) {
                return Err(ParseError {
                    span: span.clone(),
                    kind: ErrorKind::Read {
                        path: full.display().to_string(),
                        reason: "no such file".into(),
                    },
                });
            }
            for path in matches {
                let text = self.source.read(&path).map_err(|e| ParseError {
                    span: span.clone(),
                    kind: ErrorKind::Read {
                        path: path.display().to_string(),
                        reason: e.to_string(),
                    },
                })?;
                self.files.push(path.clone());
                self.file(&path, &text, depth + 1)?;
            }
        }
        Ok(())
    }
}

fn push_all(out: &mut [String], s: &str) {
    if let Some(last) = out.last_mut() {
        last.push_str(s);
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The most lines one source line may expand to through `~SEQ`, nested ones included.
const MAX_SEQ_LINES: usize = 100_000;

/// The most `~SEQ` one line may hold: each is a level of recursion, and a line of a
/// million one-step sequences must be an error, not a stack overflow.
const MAX_SEQ_NESTING: usize = 16;

/// Expands `~SEQ(VAR, START, [STEP,] END)` anywhere in a line.
fn expand_seq(line: &str, span: &impl Fn(u32) -> Span) -> Result<Vec<String>, ParseError> {
    let mut out = Vec::new();
    let mut budget = MAX_SEQ_LINES;
    expand_seq_into(line, span, &mut out, &mut budget, 0)?;
    Ok(out)
}

/// Appends the expansion of `line` to `out`. Every finished line costs one unit of
/// `budget`, charged as it is produced, so nested sequences cannot multiply into
/// millions of intermediate lines before the limit is noticed.
fn expand_seq_into(
    line: &str,
    span: &impl Fn(u32) -> Span,
    out: &mut Vec<String>,
    budget: &mut usize,
    nesting: usize,
) -> Result<(), ParseError> {
    let Some(pos) = line.find("~SEQ(") else {
        if *budget == 0 {
            return Err(ParseError {
                span: span(1),
                kind: ErrorKind::TooLarge(MAX_SEQ_LINES),
            });
        }
        *budget -= 1;
        out.push(line.to_string());
        return Ok(());
    };
    let err = |msg: &str| ParseError {
        span: span(pos as u32 + 1),
        kind: ErrorKind::Seq(msg.to_string()),
    };
    if nesting >= MAX_SEQ_NESTING {
        return Err(err("more than 16 ~SEQ in one line"));
    }
    let args_start = pos + "~SEQ(".len();
    let end = line[args_start..]
        .find(')')
        .ok_or_else(|| err("missing ')'"))?
        + args_start;
    let parts: Vec<&str> = line[args_start..end].split(',').map(str::trim).collect();
    let (var, nums) = match parts.split_first() {
        Some((var, nums)) if valid_name(var) => (*var, nums),
        _ => return Err(err("expected a variable name")),
    };
    let nums: Vec<i64> = nums
        .iter()
        .map(|n| n.parse::<i64>().map_err(|_| err("expected integers")))
        .collect::<Result<_, _>>()?;
    let (start, step, stop) = match nums.as_slice() {
        [start, stop] => (*start, if stop >= start { 1 } else { -1 }, *stop),
        [start, step, stop] => (*start, *step, *stop),
        _ => return Err(err("expected ~SEQ(VAR, START, [STEP,] END)")),
    };
    if step == 0 || (step > 0 && start > stop) || (step < 0 && start < stop) {
        return Err(err("the sequence never reaches its end"));
    }
    // i128: the distance between two i64 bounds does not fit an i64.
    let count = (i128::from(stop) - i128::from(start)) / i128::from(step) + 1;
    if count > MAX_SEQ_LINES as i128 {
        return Err(err("more than 100000 repetitions"));
    }
    let template = format!("{}{}", &line[..pos], &line[end + 1..]);
    for k in 0..count {
        // Within [start, stop] by construction, so it fits an i64.
        let value = (i128::from(start) + k * i128::from(step)).to_string();
        let expanded = template
            .replace(&format!("${{{var}}}"), &value)
            .replace(&format!("${var}"), &value);
        expand_seq_into(&expanded, span, out, budget, nesting + 1)?;
    }
    Ok(())
}

/// Resolves `.` and `..` lexically, so spans and in-memory sources see clean paths.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Expands a glob pattern (wildcards in any path component) through `source`.
fn glob(source: &dyn Source, pattern: &Path) -> Vec<PathBuf> {
    let mut current = vec![PathBuf::new()];
    for component in pattern.components() {
        let part = component.as_os_str().to_string_lossy().into_owned();
        let mut next = Vec::new();
        for prefix in &current {
            if has_wildcard(&part) {
                let dir = if prefix.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    prefix.clone()
                };
                let mut names = source.list(&dir).unwrap_or_default();
                names.sort();
                for name in names {
                    if !name.starts_with('.') && wildcard_match(&part, &name) {
                        next.push(prefix.join(name));
                    }
                }
            } else {
                next.push(prefix.join(&part));
            }
        }
        current = next;
    }
    current
        .into_iter()
        .filter(|p| source.read(p).is_ok())
        .collect()
}

/// Shell-style matching of `*`, `?` and `[...]` against a file name.
fn wildcard_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some(('?', rest)) => !n.is_empty() && go(rest, &n[1..]),
            Some(('[', rest)) => {
                let Some(close) = rest.iter().position(|c| *c == ']') else {
                    return n.first() == Some(&'[') && go(rest, &n[1..]);
                };
                let (set, after) = (&rest[..close], &rest[close + 1..]);
                let (negate, set) = match set.split_first() {
                    Some(('!' | '^', s)) => (true, s),
                    _ => (false, set),
                };
                let Some(c) = n.first() else { return false };
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == '-' {
                        hit |= set[i] <= *c && *c <= set[i + 2];
                        i += 3;
                    } else {
                        hit |= set[i] == *c;
                        i += 1;
                    }
                }
                hit != negate && go(after, &n[1..])
            }
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

/// Builds the block tree from token lines.
fn build_tree(lines: &[Line]) -> Result<Vec<Node>, ParseError> {
    // A stack of open blocks: (node, children so far).
    let mut stack: Vec<Node> = Vec::new();
    let mut top: Vec<Node> = Vec::new();
    for line in lines {
        let span = |col: u32| Span {
            file: line.file.clone(),
            line: line.line,
            col,
        };
        let mut words: Vec<(String, u32)> = Vec::new();
        let flush = |words: &mut Vec<(String, u32)>,
                     stack: &mut Vec<Node>,
                     top: &mut Vec<Node>,
                     block: bool| {
            if words.is_empty() {
                return None;
            }
            let (keyword, col) = words.remove(0);
            let node = Node {
                keyword,
                args: words.drain(..).map(|(w, _)| w).collect(),
                children: Vec::new(),
                block,
                span: span(col),
            };
            if block {
                return Some(node);
            }
            match stack.last_mut() {
                Some(parent) => parent.children.push(node),
                None => top.push(node),
            }
            None
        };
        for (token, col) in &line.tokens {
            match token.as_str() {
                "{" if stack.len() >= MAX_BLOCK_DEPTH => {
                    return Err(ParseError {
                        span: span(*col),
                        kind: ErrorKind::TooDeep(MAX_BLOCK_DEPTH),
                    });
                }
                "{" => match flush(&mut words, &mut stack, &mut top, true) {
                    Some(node) => stack.push(node),
                    None => {
                        // `{` on its own line opens a block for the previous statement.
                        let previous = match stack.last_mut() {
                            Some(parent) => parent.children.pop(),
                            None => top.pop(),
                        };
                        match previous {
                            Some(mut node) if !node.block => {
                                node.block = true;
                                stack.push(node);
                            }
                            _ => {
                                return Err(ParseError {
                                    span: span(*col),
                                    kind: ErrorKind::BlockWithoutKeyword,
                                });
                            }
                        }
                    }
                },
                "}" => {
                    flush(&mut words, &mut stack, &mut top, false);
                    let Some(done) = stack.pop() else {
                        return Err(ParseError {
                            span: span(*col),
                            kind: ErrorKind::UnexpectedClose,
                        });
                    };
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(done),
                        None => top.push(done),
                    }
                }
                _ => words.push((token.clone(), *col)),
            }
        }
        flush(&mut words, &mut stack, &mut top, false);
    }
    if let Some(open) = stack.pop() {
        return Err(ParseError {
            span: open.span,
            kind: ErrorKind::Unclosed,
        });
    }
    Ok(top)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<Node> {
        parse_str(text, &Options::default()).unwrap().nodes
    }

    fn err(text: &str) -> ParseError {
        parse_str(text, &Options::default()).unwrap_err()
    }

    fn shape(nodes: &[Node]) -> String {
        nodes
            .iter()
            .map(|n| {
                let mut s = n.keyword.clone();
                for a in &n.args {
                    s.push(' ');
                    s.push_str(a);
                }
                if n.block {
                    s.push_str(&format!(" {{{}}}", shape(&n.children)));
                }
                s
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    #[test]
    fn blocks_statements_and_comments() {
        let nodes = parse(
            "! Configuration File\nglobal_defs {\n  router_id LVS_1 # trailing\n}\nvrrp_instance VI_1\n{\n  state MASTER\n  authentication { auth_type PASS\n auth_pass 1111 }\n}\n",
        );
        assert_eq!(
            shape(&nodes),
            "global_defs {router_id LVS_1}; vrrp_instance VI_1 {state MASTER; authentication {auth_type PASS; auth_pass 1111}}"
        );
        assert_eq!(nodes[1].span.to_string(), "<string>:5:1");
        assert_eq!(nodes[1].children[0].span.to_string(), "<string>:7:3");
    }

    #[test]
    fn quoted_arguments_keep_spaces_and_comment_chars() {
        let nodes = parse("vrrp_script chk {\n script \"/usr/bin/check a # b\"\n}\n");
        assert_eq!(nodes[0].children[0].args, vec!["/usr/bin/check a # b"]);
    }

    #[test]
    fn parameters_single_and_multi_line() {
        let nodes = parse(
            "$PRIO=150\n$ADDRS=10.0.0.1/24 \\\n10.0.0.2/24\nvrrp_instance X {\n priority $PRIO\n virtual_ipaddress {\n ${ADDRS}\n }\n}\n",
        );
        assert_eq!(
            shape(&nodes),
            "vrrp_instance X {priority 150; virtual_ipaddress {10.0.0.1/24; 10.0.0.2/24}}"
        );
    }

    #[test]
    fn unknown_parameters_stay_as_written() {
        let nodes = parse("notify \"/bin/x $HOME\"\n");
        assert_eq!(nodes[0].args, vec!["/bin/x $HOME"]);
    }

    #[test]
    fn conditional_lines() {
        let text = "@lb1 priority 200\n@lb2 priority 100\n@^lb1 state BACKUP\nstate_all x\n";
        let opts = Options {
            config_id: Some("lb1".into()),
            ..Options::default()
        };
        let nodes = parse_str(text, &opts).unwrap().nodes;
        assert_eq!(shape(&nodes), "priority 200; state_all x");
        let nodes = parse_str(text, &Options::default()).unwrap().nodes;
        assert_eq!(shape(&nodes), "state BACKUP; state_all x");
    }

    #[test]
    fn seq_repeats_lines() {
        let nodes = parse("virtual_ipaddress {\n~SEQ(i, 1, 3) 10.0.0.$i/24\n}\n");
        assert_eq!(
            shape(&nodes),
            "virtual_ipaddress {10.0.0.1/24; 10.0.0.2/24; 10.0.0.3/24}"
        );
        let nodes = parse("~SEQ(i, 10, -5, 0) x ${i}\n");
        assert_eq!(shape(&nodes), "x 10; x 5; x 0");
        assert!(matches!(err("~SEQ(i, 1, 0, 3) x").kind, ErrorKind::Seq(_)));
        assert!(matches!(err("~SEQ(i, 1, 3 x").kind, ErrorKind::Seq(_)));
        let nested = "~SEQ(a, 1, 1000) ~SEQ(b, 1, 1000) x";
        assert!(matches!(err(nested).kind, ErrorKind::TooLarge(_)));
    }

    #[test]
    fn includes_with_globs_relative_to_the_including_file() {
        let mut src = MemSource::default();
        src.files.insert(
            "/etc/k/keepalived.conf".into(),
            "global_defs {\n}\ninclude conf.d/*.conf\ninclude /etc/k/last.inc\n".into(),
        );
        src.files.insert(
            "/etc/k/conf.d/b.conf".into(),
            "vrrp_instance B {\n}\n".into(),
        );
        src.files.insert(
            "/etc/k/conf.d/a.conf".into(),
            "vrrp_instance A {\n include ../inner.inc\n}\n".into(),
        );
        src.files
            .insert("/etc/k/conf.d/skip.txt".into(), "bad {".into());
        src.files
            .insert("/etc/k/inner.inc".into(), "priority 7\n".into());
        src.files.insert(
            "/etc/k/last.inc".into(),
            "virtual_server 1.2.3.4 80 {\n}\n".into(),
        );
        let conf = parse_with(
            &src,
            Path::new("/etc/k/keepalived.conf"),
            &Options::default(),
        )
        .unwrap();
        assert_eq!(
            shape(&conf.nodes),
            "global_defs {}; vrrp_instance A {priority 7}; vrrp_instance B {}; virtual_server 1.2.3.4 80 {}"
        );
        assert_eq!(
            conf.nodes[1].children[0].span.to_string(),
            "/etc/k/inner.inc:1:1"
        );
        assert_eq!(conf.files.len(), 5);
    }

    #[test]
    fn include_loops_and_missing_files_are_errors() {
        let mut src = MemSource::default();
        src.files
            .insert("/a.conf".into(), "include /a.conf\n".into());
        let e = parse_with(&src, Path::new("/a.conf"), &Options::default()).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::IncludeDepth(16)));
        let e = err("include /nonexistent/file.conf\n");
        assert!(
            e.to_string()
                .starts_with("<string>:1:1: cannot read /nonexistent/file.conf"),
            "{e}"
        );
    }

    #[test]
    fn unbalanced_braces_and_quotes_report_their_location() {
        assert_eq!(
            err("a {\n b\n").to_string(),
            "<string>:1:1: block opened here is never closed"
        );
        assert_eq!(err("a\n  }\n").to_string(), "<string>:2:3: unexpected '}'");
        assert_eq!(
            err("x \"abc\n").to_string(),
            "<string>:1:3: unterminated quoted string"
        );
        assert_eq!(err("{\n").kind, ErrorKind::BlockWithoutKeyword);
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_an_error_not_a_stack_overflow() {
        let ok = format!(
            "{}{}",
            "a {\n".repeat(MAX_BLOCK_DEPTH),
            "}\n".repeat(MAX_BLOCK_DEPTH)
        );
        assert_eq!(parse(&ok).len(), 1);
        // Parameters let a few bytes of input open a million blocks on one line.
        let text = format!(
            "$A={}\n$B={}\n{}{}\n",
            "a{".repeat(1000),
            "}".repeat(1000),
            "$A".repeat(300),
            "$B".repeat(300)
        );
        let e = err(&text);
        assert_eq!(e.kind, ErrorKind::TooDeep(MAX_BLOCK_DEPTH));
        assert_eq!(
            (e.span.line, e.span.col),
            (3, 2 * MAX_BLOCK_DEPTH as u32 + 2)
        );
    }

    #[test]
    fn nested_sequences_are_bounded_and_extreme_bounds_do_not_overflow() {
        // 400 × 400 × 400 lines would be 64 million: refused, and quickly.
        let started = std::time::Instant::now();
        let text = "a ~SEQ(i,1,400) ~SEQ(j,1,400) ~SEQ(k,1,400) $i$j$k\n";
        assert_eq!(err(text).kind, ErrorKind::TooLarge(MAX_SEQ_LINES));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let e = err("a ~SEQ(i,-9223372036854775808,9223372036854775807)\n");
        assert!(matches!(e.kind, ErrorKind::Seq(_)), "{e:?}");
        let many = format!("a {}\n", "~SEQ(i,1,1)".repeat(100_000));
        assert!(matches!(err(&many).kind, ErrorKind::Seq(_)));
        let nodes = parse("a ~SEQ(i,9223372036854775806,9223372036854775807) $i\n");
        assert_eq!(nodes.len(), 2);
        assert_eq!(nodes[1].args, vec!["9223372036854775807"]);
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*.conf", "a.conf"));
        assert!(!wildcard_match("*.conf", "a.conf.bak"));
        assert!(wildcard_match("vi_?.conf", "vi_1.conf"));
        assert!(wildcard_match("[a-c]*", "beta"));
        assert!(!wildcard_match("[!a-c]*", "beta"));
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in ".{0,400}") {
            let _ = parse_str(&text, &Options::default());
        }

        #[test]
        fn grammar_shaped_text_never_panics(parts in proptest::collection::vec(
            prop_oneof![
                Just("{".to_string()), Just("}".to_string()), Just("\n".to_string()),
                Just("$A=x \\\n".to_string()), Just("$A".to_string()), Just("${A}".to_string()),
                Just("@id ".to_string()), Just("@^id ".to_string()), Just("~SEQ(i,1,3) ".to_string()),
                Just("\"q".to_string()), Just("# c\n".to_string()), Just("include x*\n".to_string()),
                "[a-z0-9_/.]{1,8}".prop_map(|s| format!("{s} ")),
            ],
            0..60,
        )) {
            let _ = parse_str(&parts.concat(), &Options::default());
        }
    }
}
