//! Service account tokens sealed at rest: ChaCha20-Poly1305 (an AEAD from
//! the RustCrypto project) with a random 96-bit nonce per token and the
//! cluster's name as associated data, so a sealed token copied to another
//! cluster's row does not open.

use std::fmt;

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

/// Nonce bytes in front of each sealed token.
const NONCE_BYTES: usize = 12;

/// Why a key or a sealed token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The key's environment variable is not set.
    #[error("{var} is not set: give 64 hex digits (32 random bytes, e.g. `openssl rand -hex 32`)")]
    MissingKey {
        /// The variable.
        var: &'static str,
    },
    /// The key is not 64 hex digits.
    #[error("{var}: {reason}")]
    BadKey {
        /// The variable (or `key` when given directly).
        var: &'static str,
        /// What is wrong (never the key itself).
        reason: String,
    },
    /// The sealed bytes do not open with this key and cluster name: another
    /// key, another cluster's row, or tampered.
    #[error("the sealed token of cluster {cluster} does not open with this key (another key, another cluster's row, or tampered)")]
    DoesNotOpen {
        /// The cluster name used as associated data.
        cluster: String,
    },
}

/// The key that seals tokens: 32 bytes. Its `Debug` prints nothing of it.
#[derive(Clone)]
pub struct TokenKey(Key);

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKey(…)")
    }
}

impl TokenKey {
    /// The environment variable [`TokenKey::from_env`] reads.
    pub const ENV: &'static str = "CLOUDOPTIM_TOKEN_KEY";

    /// A key from 64 hex digits.
    ///
    /// ```
    /// use cloudoptim::runtime::TokenKey;
    ///
    /// let key = TokenKey::from_hex(&"ab".repeat(32))?;
    /// let sealed = key.seal("eyJhbGciOi…", "prod");
    /// assert_eq!(key.open(&sealed, "prod")?.expose(), "eyJhbGciOi…");
    /// assert!(key.open(&sealed, "staging").is_err());
    /// assert!(TokenKey::from_hex("abc").is_err());
    /// # Ok::<(), cloudoptim::runtime::SealError>(())
    /// ```
    pub fn from_hex(hex_digits: &str) -> Result<TokenKey, SealError> {
        Self::parse(hex_digits, "key")
    }

    /// The key in [`TokenKey::ENV`].
    pub fn from_env() -> Result<TokenKey, SealError> {
        let text =
            std::env::var(Self::ENV).map_err(|_| SealError::MissingKey { var: Self::ENV })?;
        Self::parse(text.trim(), Self::ENV)
    }

    fn parse(text: &str, var: &'static str) -> Result<TokenKey, SealError> {
        // The decoder's error quotes the offending character: not shown.
        let bytes = hex::decode(text).map_err(|_| SealError::BadKey {
            var,
            reason: "not 64 hex digits".to_owned(),
        })?;
        if bytes.len() != 32 {
            return Err(SealError::BadKey {
                var,
                reason: format!("{} bytes, 32 needed (64 hex digits)", bytes.len()),
            });
        }
        Ok(TokenKey(*Key::from_slice(&bytes)))
    }

    /// Seal `token` for the cluster named `cluster`: nonce, then ciphertext.
    pub fn seal(&self, token: &str, cluster: &str) -> Vec<u8> {
        let cipher = ChaCha20Poly1305::new(&self.0);
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let payload = Payload {
            msg: token.as_bytes(),
            aad: cluster.as_bytes(),
        };
        // Encryption into a Vec fails only when out of memory.
        let sealed = cipher.encrypt(&nonce, payload).unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend(sealed);
        out
    }

    /// Open what [`TokenKey::seal`] made for `cluster`.
    pub fn open(&self, sealed: &[u8], cluster: &str) -> Result<Secret, SealError> {
        let refused = || SealError::DoesNotOpen {
            cluster: cluster.to_owned(),
        };
        if sealed.len() < NONCE_BYTES {
            return Err(refused());
        }
        let (nonce, body) = sealed.split_at(NONCE_BYTES);
        let cipher = ChaCha20Poly1305::new(&self.0);
        let plain = cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: cluster.as_bytes(),
                },
            )
            .map_err(|_| refused())?;
        String::from_utf8(plain).map(Secret).map_err(|_| refused())
    }
}

/// A token in memory. `Debug` and `Display` print nothing of it; only
/// [`Secret::expose`] gives it, to hand to the Kubernetes client.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Hold `token`.
    pub fn new(token: impl Into<String>) -> Secret {
        Secret(token.into())
    }

    /// The token itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}
