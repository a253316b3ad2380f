//! The product's Rust sources as text: every `*.rs` under `src/` (the CLI) and `crates/*/src` but
//! the test kit's, with comments removed, string literals
//! separated from the code, `#[cfg(test)]` modules left out, and functions found by their braces.
//! Enough to find method calls and setting names; not a Rust parser.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The repository root: the nearest directory at or above this package holding `template.yaml`.
pub fn repo_root() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !dir.join("template.yaml").is_file() {
        assert!(
            dir.pop(),
            "no template.yaml above {}",
            env!("CARGO_MANIFEST_DIR")
        );
    }
    dir
}

/// One source file, lexed.
#[derive(Debug, Clone)]
pub struct File {
    /// Path relative to the repository root, with `/` separators.
    pub path: String,
    /// The code without comments, string contents blanked (quotes kept), test modules removed.
    pub code: String,
    /// The contents of the string literals outside comments and test modules.
    pub literals: Vec<String>,
}

impl File {
    /// Lexes `text` as the file at `path`.
    pub fn new(path: &str, text: &str) -> Self {
        // Lexed twice: once to find the test modules, once more without them.
        let (first, _) = lex(text);
        let tests = test_module_chars(&first);
        let text: String = text
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if c != '\n' && tests.iter().any(|r| r.contains(&i)) {
                    ' '
                } else {
                    c
                }
            })
            .collect();
        let (code, literals) = lex(&text);
        Self {
            path: path.to_string(),
            code,
            literals,
        }
    }

    /// The path's components (directories and the file stem): `a/b/c.rs` → `[a, b, c]`.
    pub fn components(&self) -> Vec<&str> {
        let trimmed = self.path.strip_suffix(".rs").unwrap_or(&self.path);
        trimmed.split('/').collect()
    }

    /// True when a directory or the file stem is `name`.
    pub fn is_in(&self, name: &str) -> bool {
        self.components().contains(&name)
    }

    /// Every function with a body: `(name, body)`, nested ones too.
    pub fn functions(&self) -> Vec<(String, String)> {
        let bytes = self.code.as_bytes();
        let mut out = Vec::new();
        let mut from = 0;
        while let Some(at) = find_word(&self.code, "fn", from) {
            from = at + 2;
            let rest = &self.code[from..];
            let name: String = rest
                .trim_start()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if name.is_empty() {
                continue; // `fn(` pointer types
            }
            let Some(open) = self.code[from..].find(['{', ';']).map(|i| i + from) else {
                break;
            };
            if bytes[open] == b';' {
                continue; // a declaration: trait method without a default body
            }
            let close = matching_brace(bytes, open);
            out.push((name, self.code[open..close].to_string()));
        }
        out
    }
}

/// Every `*.rs` file of the product under `root`: the CLI (`src/`) and the `src/` of every crate
/// under `crates/` but the test kit, which never ships (recursively; tests are not the product).
pub fn load(root: &Path) -> Vec<File> {
    let mut paths = Vec::new();
    collect(&root.join("src"), &mut paths);
    for krate in std::fs::read_dir(root.join("crates"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if krate.file_name() != "testkit" {
            collect(&krate.path().join("src"), &mut paths);
        }
    }
    paths.sort();
    assert!(
        !paths.is_empty(),
        "no Rust sources under {}",
        root.display()
    );
    paths
        .iter()
        .map(|p| {
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            File::new(&rel, &std::fs::read_to_string(p).unwrap())
        })
        .collect()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() && path.file_name().is_some_and(|n| n != "target") {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Lexes Rust text: returns the code with comments replaced by spaces and string literal
/// contents by spaces (quotes kept, so offsets and braces stay meaningful), and the literals.
pub fn lex(text: &str) -> (String, Vec<String>) {
    let chars: Vec<char> = text.chars().collect();
    let (mut code, mut literals) = (String::with_capacity(text.len()), Vec::new());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let prev_ident = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                code.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    code.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    code.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    code.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && !prev_ident && matches!(next, Some('"') | Some('#')) {
            // A raw string r"…" or r#"…"#: no escapes.
            let hashes = chars[i + 1..].iter().take_while(|c| **c == '#').count();
            if chars.get(i + 1 + hashes) != Some(&'"') {
                code.push(c);
                i += 1;
                continue;
            }
            let start = i + 2 + hashes;
            let closes = |at: usize| {
                chars[at] == '"' && (0..hashes).all(|k| chars.get(at + 1 + k) == Some(&'#'))
            };
            let mut end = start;
            while end < chars.len() && !closes(end) {
                end += 1;
            }
            literals.push(chars[start..end].iter().collect());
            code.push_str(&" ".repeat(start - i - 1));
            code.push('"');
            code.extend(chars[start..end].iter().map(|c| blank(*c)));
            code.push('"');
            code.push_str(&" ".repeat(hashes));
            i = end + 1 + hashes;
        } else if c == '"' {
            let mut end = i + 1;
            let mut value = String::new();
            while end < chars.len() && chars[end] != '"' {
                if chars[end] == '\\' {
                    value.push(chars[end]);
                    end += 1;
                }
                if end < chars.len() {
                    value.push(chars[end]);
                }
                end += 1;
            }
            literals.push(value);
            code.push('"');
            code.extend(chars[i + 1..end.min(chars.len())].iter().map(|c| blank(*c)));
            code.push('"');
            i = end + 1;
        } else if c == '\'' && (next == Some('\\') || chars.get(i + 2) == Some(&'\'')) {
            // A char literal ('"', '\'', '\\', '{'): blanked so it opens nothing.
            let mut end = i + 1;
            if chars[end] == '\\' {
                end += 2;
            } else {
                end += 1;
            }
            while end < chars.len() && chars[end] != '\'' {
                end += 1;
            }
            code.push_str(&" ".repeat(end + 1 - i));
            i = end + 1;
        } else {
            code.push(c);
            i += 1;
        }
    }
    (code, literals)
}

/// The `#[cfg(test)]` items of lexed `code` (the attribute and the braced block after it), as
/// character ranges (lexing keeps one character per character).
fn test_module_chars(code: &str) -> Vec<std::ops::Range<usize>> {
    let char_at = |byte: usize| code[..byte].chars().count();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = code[from..].find("#[cfg(test)]").map(|i| i + from) {
        let Some(open) = code[at..].find(['{', ';']).map(|i| i + at) else {
            break;
        };
        let end = if code.as_bytes()[open] == b'{' {
            matching_brace(code.as_bytes(), open)
        } else {
            open + 1
        };
        out.push(char_at(at)..char_at(end));
        from = end;
    }
    out
}

/// The index just past the `}` matching the `{` at `open`.
fn matching_brace(bytes: &[u8], open: usize) -> usize {
    let mut depth = 0usize;
    for (i, b) in bytes.iter().enumerate().skip(open) {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    bytes.len()
}

/// The next occurrence of `word` as a whole identifier in `code`, at or after `from`.
pub fn find_word(code: &str, word: &str, from: usize) -> Option<usize> {
    let is_ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let bytes = code.as_bytes();
    let mut at = from;
    while let Some(i) = code.get(at..)?.find(word).map(|i| i + at) {
        let before = i == 0 || !is_ident(bytes[i - 1]);
        let after = bytes.get(i + word.len()).is_none_or(|c| !is_ident(*c));
        if before && after {
            return Some(i);
        }
        at = i + word.len();
    }
    None
}

/// Every method call `.name(` in `code` (whitespace between the parts ignored), with the
/// receiver text just before the dot (whitespace removed, at most 60 characters).
pub fn method_calls(code: &str) -> Vec<(String, String)> {
    let squeezed: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = squeezed.as_bytes();
    let mut out = Vec::new();
    for (i, _) in squeezed.match_indices('.') {
        let name: String = squeezed[i + 1..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() || bytes.get(i + 1 + name.len()) != Some(&b'(') {
            continue;
        }
        let start = i.saturating_sub(60);
        let start = (start..i)
            .find(|s| squeezed.is_char_boundary(*s))
            .unwrap_or(i);
        out.push((name, squeezed[start..i].to_string()));
    }
    out
}

/// The identifiers `aws_sdk_<service>` a file names: the SDK crates whose clients it may hold.
pub fn sdk_crates_named(code: &str) -> Vec<String> {
    let mut out: Vec<String> = code
        .match_indices("aws_sdk_")
        .map(|(i, _)| {
            code[i + 8..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|s| !s.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The operations of every AWS SDK crate the build uses, by service (`secretsmanager` →
/// `get_secret_value`, …): the `src/operation/` directories of the crates themselves, at the
/// versions `Cargo.lock` pins, in Cargo's registry sources (the build has unpacked them). These
/// are the names a client's fluent builders have.
pub fn sdk_operations() -> &'static BTreeMap<String, Vec<String>> {
    static OPS: std::sync::OnceLock<BTreeMap<String, Vec<String>>> = std::sync::OnceLock::new();
    OPS.get_or_init(|| {
        let lock = std::fs::read_to_string(repo_root().join("Cargo.lock")).expect("Cargo.lock");
        let cargo_home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo"));
        let registries: Vec<PathBuf> = std::fs::read_dir(cargo_home.join("registry/src"))
            .expect("Cargo's registry sources")
            .flatten()
            .map(|e| e.path())
            .collect();
        let mut ops = BTreeMap::new();
        for package in lock.split("[[package]]") {
            let field = |key: &str| {
                package.lines().find_map(|l| {
                    l.strip_prefix(&format!("{key} = \""))
                        .and_then(|v| v.strip_suffix('"'))
                })
            };
            let (Some(name), Some(version)) = (field("name"), field("version")) else {
                continue;
            };
            let Some(service) = name.strip_prefix("aws-sdk-") else {
                continue;
            };
            let dir = registries
                .iter()
                .map(|r| r.join(format!("{name}-{version}/src/operation")))
                .find(|d| d.is_dir())
                .unwrap_or_else(|| panic!("{name} {version} is not in {registries:?}"));
            let mut names: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            ops.insert(service.replace('-', ""), names);
        }
        assert!(
            ops.contains_key("secretsmanager"),
            "Cargo.lock pins no aws-sdk-secretsmanager"
        );
        ops
    })
}

/// `get_secret_value` → `GetSecretValue`.
pub fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}
