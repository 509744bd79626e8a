//! The API's bearer token: one secret in a file only the agent's user can
//! read, generated on the first run.

use anyhow::{bail, Context, Result};
use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The API's secret. Debug does not show it, so it cannot reach a log.
#[derive(Clone)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

impl Token {
    /// A token from its text (surrounding whitespace removed).
    pub fn new(text: &str) -> Result<Token> {
        let t = text.trim();
        if t.is_empty() {
            bail!("the token is empty");
        }
        Ok(Token(t.to_owned()))
    }

    /// A fresh random token: 32 bytes as hex.
    pub fn generate() -> Token {
        Token(random_hex::<32>())
    }

    /// The token's text, for a client to send.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `candidate` is the token, in time that does not depend on how
    /// much of it matches, so the token cannot be guessed byte by byte.
    pub fn matches(&self, candidate: &str) -> bool {
        use subtle::ConstantTimeEq;
        // Lengths are not secret (every token is 64 hex digits), so a length
        // mismatch may return early.
        bool::from(self.0.as_bytes().ct_eq(candidate.as_bytes()))
    }

    /// Reads the token from `path`; refuses a file that group or others can
    /// read or write.
    pub fn load(path: &Path) -> Result<Token> {
        let meta = std::fs::metadata(path)
            .with_context(|| format!("cannot read API token file {}", path.display()))?;
        check_private(path, meta.permissions().mode())?;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read API token file {}", path.display()))?;
        Token::new(&text).with_context(|| format!("API token file {}", path.display()))
    }

    /// The server's side: reads the token from `path`, or on the first run
    /// generates one and writes it there with mode 0600.
    pub fn load_or_create(path: &Path) -> Result<Token> {
        match Token::load(path) {
            Ok(t) => return Ok(t),
            Err(e)
                if e.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == ErrorKind::NotFound) => {}
            Err(e) => return Err(e),
        }
        let token = Token::generate();
        // create_new with the mode set at creation: the file is never readable
        // by others, not even between create and chmod, and a file that
        // appeared meanwhile is not overwritten.
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
        let mut file = match file {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => return Token::load(path),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot create API token file {}", path.display()))
            }
        };
        writeln!(file, "{}", token.0)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("cannot write API token file {}", path.display()))?;
        tracing::info!(file = %path.display(), "generated a new API token");
        Ok(token)
    }
}

fn check_private(path: &Path, mode: u32) -> Result<()> {
    if mode & 0o077 != 0 {
        bail!(
            "API token file {} is accessible by group or others (mode {:04o}); \
             run `chmod 600 {}` (and consider replacing the token: delete the \
             file and agentphone run makes a new one)",
            path.display(),
            mode & 0o7777,
            path.display()
        );
    }
    Ok(())
}

/// `N` random bytes from the thread's CSPRNG, as lowercase hex.
pub(crate) fn random_hex<const N: usize>() -> String {
    let bytes: [u8; N] = rand::random();
    let mut s = String::with_capacity(2 * N);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "agentphone-token-{name}-{}-{}",
            std::process::id(),
            random_hex::<4>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn first_run_generates_a_private_token_and_later_runs_read_it() {
        let dir = temp_dir("gen");
        let path = dir.join("t.token");
        let t1 = Token::load_or_create(&path).unwrap();
        assert_eq!(t1.as_str().len(), 64);
        assert!(t1.as_str().chars().all(|c| c.is_ascii_hexdigit()));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let t2 = Token::load_or_create(&path).unwrap();
        assert_eq!(t1.as_str(), t2.as_str());
        assert_eq!(Token::load(&path).unwrap().as_str(), t1.as_str());
        assert_ne!(Token::generate().as_str(), t1.as_str());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_token_file_others_can_read_is_refused() {
        let dir = temp_dir("perm");
        let path = dir.join("t.token");
        std::fs::write(&path, "abc\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        for r in [Token::load(&path), Token::load_or_create(&path)] {
            let err = format!("{:#}", r.unwrap_err());
            assert!(
                err.contains("accessible by group or others")
                    && err.contains("0644")
                    && err.contains("chmod 600"),
                "{err}"
            );
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(Token::load(&path).unwrap().as_str(), "abc");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn missing_or_empty_token_files_are_clear_errors() {
        let dir = temp_dir("missing");
        let err = format!("{:#}", Token::load(&dir.join("nope")).unwrap_err());
        assert!(err.contains("cannot read API token file"), "{err}");
        let path = dir.join("empty");
        std::fs::write(&path, "\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = format!("{:#}", Token::load(&path).unwrap_err());
        assert!(err.contains("empty"), "{err}");
        let err = format!(
            "{:#}",
            Token::load_or_create(&dir.join("no-such-dir/t")).unwrap_err()
        );
        assert!(err.contains("cannot create API token file"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn comparison_accepts_only_the_exact_token_and_debug_hides_it() {
        let t = Token::new(" s3cret\n").unwrap();
        assert!(t.matches("s3cret"));
        assert!(!t.matches("s3creT"));
        assert!(!t.matches("s3cre"));
        assert!(!t.matches("s3cret "));
        assert!(!t.matches(""));
        assert!(!format!("{t:?}").contains("s3cret"));
    }
}
