//! JWT verification and minting (PROTOCOL.md §2).

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

/// The checks `jsonwebtoken` makes for `alg`. It reads `exp` only as an
/// integer, so a fractional one (a valid NumericDate, RFC 7519 §2) would be
/// refused: `exp` is read by `Claims` and checked in [`Auth::verify`].
fn validation(alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.validate_exp = false;
    v.required_spec_claims.clear();
    v
}

impl Auth {
    /// HS256 with a shared secret.
    pub fn hs256(secret: &[u8]) -> Self {
        Self {
            decoding: DecodingKey::from_secret(secret),
            encoding: Some(EncodingKey::from_secret(secret)),
            validation: validation(Algorithm::HS256),
        }
    }

    /// RS256 with a PEM public key (verification only).
    pub fn rs256_public_pem(pem: &[u8]) -> Result<Self, jsonwebtoken::errors::Error> {
        Ok(Self { decoding: DecodingKey::from_rsa_pem(pem)?, encoding: None, validation: validation(Algorithm::RS256) })
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
                if bounds::id("org", &data.claims.org).is_err() || bounds::id("sub", &data.claims.sub).is_err() =>
            {
                Err(AuthErrorCode::TokenInvalid)
            }
            // `exp` is required by `Claims` itself; no leeway.
            Ok(data) if data.claims.exp < jsonwebtoken::get_current_timestamp() => Err(AuthErrorCode::TokenExpired),
            Ok(data) => Ok(data.claims),
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

    /// Signs arbitrary JSON claims, as another issuer might.
    fn sign(claims: &serde_json::Value) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(b"secret"))
            .expect("sign")
    }

    #[test]
    fn fractional_jwt_dates_are_accepted_exp_rounded_up() {
        // PyJWT given `time.time() + 3600`, say: RFC 7519 NumericDates may be fractional.
        let auth = Auth::hs256(b"secret");
        let now = jsonwebtoken::get_current_timestamp() as f64;
        let token = sign(&serde_json::json!({
            "sub": "u1", "org": "acme", "role": "viewer", "exp": now + 60.25, "iat": now - 0.75,
        }));
        let c = auth.verify(&token).expect("valid");
        assert_eq!(c.exp, now as u64 + 61);
        assert_eq!(c.iat, Some(now - 0.75));
        assert_eq!(c.iat_ms(), now as u64 * 1000 - 750);
        let expired = sign(&serde_json::json!({ "sub": "u1", "org": "acme", "role": "viewer", "exp": 1000.5 }));
        assert_eq!(auth.verify(&expired), Err(AuthErrorCode::TokenExpired));
    }

    #[test]
    fn a_missing_or_out_of_range_date_makes_the_token_invalid() {
        let auth = Auth::hs256(b"secret");
        let exp = jsonwebtoken::get_current_timestamp() + 60;
        for claims in [
            serde_json::json!({ "sub": "u1", "org": "acme", "role": "viewer" }),
            serde_json::json!({ "sub": "u1", "org": "acme", "role": "viewer", "exp": "soon" }),
            serde_json::json!({ "sub": "u1", "org": "acme", "role": "viewer", "exp": -5 }),
            serde_json::json!({ "sub": "u1", "org": "acme", "role": "viewer", "exp": 1e300 }),
            serde_json::json!({ "sub": "u1", "org": "acme", "role": "viewer", "exp": exp, "iat": -1.5 }),
            serde_json::json!({ "sub": "u1", "org": "acme", "role": "viewer", "exp": exp, "iat": 9.1e15 }),
        ] {
            assert_eq!(auth.verify(&sign(&claims)), Err(AuthErrorCode::TokenInvalid), "{claims}");
        }
        let null_iat =
            sign(&serde_json::json!({ "sub": "u1", "org": "acme", "role": "viewer", "exp": exp, "iat": null }));
        assert_eq!(auth.verify(&null_iat).map(|c| c.iat), Ok(None));
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
