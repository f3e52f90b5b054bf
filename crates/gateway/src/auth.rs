//! JWT verification and minting (PROTOCOL.md §2).

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use vizora_protocol::{AuthErrorCode, Claims, bounds};

/// Verifies (and, with a secret, mints) tokens.
#[derive(Clone)]
pub struct Auth {
    decoding: DecodingKey,
    encoding: Option<EncodingKey>,
    validation: Validation,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").field("alg", &self.validation.algorithms).finish()
    }
}

impl Auth {
    /// HS256 with a shared secret.
    pub fn hs256(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp"]);
        Self {
            decoding: DecodingKey::from_secret(secret),
            encoding: Some(EncodingKey::from_secret(secret)),
            validation,
        }
    }

    /// RS256 with a PEM public key (verification only).
    pub fn rs256_public_pem(pem: &[u8]) -> Result<Self, jsonwebtoken::errors::Error> {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp"]);
        Ok(Self { decoding: DecodingKey::from_rsa_pem(pem)?, encoding: None, validation })
    }

    /// Also requires `iss` (when `Some`) and `aud` (when `Some`) in every token.
    pub fn with_issuer_audience(mut self, iss: Option<&str>, aud: Option<&str>) -> Self {
        if let Some(iss) = iss {
            self.validation.set_issuer(&[iss]);
            self.validation.required_spec_claims.insert("iss".into());
        }
        if let Some(aud) = aud {
            self.validation.set_audience(&[aud]);
            self.validation.required_spec_claims.insert("aud".into());
        }
        self
    }

    /// Checks a token and returns its claims, or the CONNECT_ERROR code.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthErrorCode> {
        if token.is_empty() {
            return Err(AuthErrorCode::TokenMissing);
        }
        match jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation) {
            // `org` and `sub` are ids: 1..=128 bytes (PROTOCOL.md §8 Bounds).
            Ok(data)
                if bounds::id("org", &data.claims.org).is_err()
                    || bounds::id("sub", &data.claims.sub).is_err()
                    || data.claims.iat.is_some_and(|i| i > bounds::MAX_SAFE_INT) =>
            {
                Err(AuthErrorCode::TokenInvalid)
            }
            Ok(data) => Ok(data.claims),
            Err(e) if matches!(e.kind(), ErrorKind::ExpiredSignature) => Err(AuthErrorCode::TokenExpired),
            Err(_) => Err(AuthErrorCode::TokenInvalid),
        }
    }

    /// Whether this gateway can sign tokens (HS256), not only verify them.
    pub fn can_mint(&self) -> bool {
        self.encoding.is_some()
    }

    /// Signs claims; `None` when only a public key is configured.
    pub fn mint(&self, claims: &Claims) -> Option<String> {
        let key = self.encoding.as_ref()?;
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, key).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vizora_protocol::Role;

    fn claims(exp: u64) -> Claims {
        Claims { sub: "u1".into(), org: "acme".into(), role: Role::Viewer, exp, iat: None }
    }

    #[test]
    fn minted_tokens_verify_and_carry_claims() {
        let auth = Auth::hs256(b"secret");
        let exp = vizora_protocol::now_ms() / 1000 + 60;
        let token = auth.mint(&claims(exp)).expect("mint");
        assert_eq!(auth.verify(&token), Ok(claims(exp)));
    }

    #[test]
    fn bad_tokens_get_their_codes() {
        let auth = Auth::hs256(b"secret");
        let other = Auth::hs256(b"other");
        let exp = vizora_protocol::now_ms() / 1000 + 60;
        assert_eq!(auth.verify(""), Err(AuthErrorCode::TokenMissing));
        assert_eq!(auth.verify("not.a.jwt"), Err(AuthErrorCode::TokenInvalid));
        let foreign = other.mint(&claims(exp)).expect("mint");
        assert_eq!(auth.verify(&foreign), Err(AuthErrorCode::TokenInvalid));
        let expired = auth.mint(&claims(1_000)).expect("mint");
        assert_eq!(auth.verify(&expired), Err(AuthErrorCode::TokenExpired));
    }
}

#[cfg(test)]
mod rs256_tests {
    use super::*;
    use vizora_protocol::Role;

    const PRIVATE: &[u8] = include_bytes!("../tests/fixtures/rs256-test-private.pem");
    const PUBLIC: &[u8] = include_bytes!("../tests/fixtures/rs256-test-public.pem");

    fn mint_rs256(claims: &Claims) -> String {
        let key = EncodingKey::from_rsa_pem(PRIVATE).expect("test key");
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &key).expect("sign")
    }

    #[test]
    fn rs256_tokens_verify_with_the_public_key_only() {
        let auth = Auth::rs256_public_pem(PUBLIC).expect("public key");
        let exp = vizora_protocol::now_ms() / 1000 + 60;
        let claims = Claims { sub: "u".into(), org: "acme".into(), role: Role::Admin, exp, iat: None };
        assert_eq!(auth.verify(&mint_rs256(&claims)), Ok(claims.clone()));
        assert!(auth.mint(&claims).is_none(), "a public key cannot sign");
        // An HS256 token is not accepted by an RS256 gateway.
        let hs = Auth::hs256(b"secret").mint(&claims).expect("mint");
        assert_eq!(auth.verify(&hs), Err(AuthErrorCode::TokenInvalid));
        assert!(Auth::rs256_public_pem(b"not a key").is_err());
    }
}
