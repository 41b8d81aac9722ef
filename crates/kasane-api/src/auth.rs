//! Bearer tokens: Kasane's own HS256 tokens (`kasane token issue`) and, optionally, tokens of an
//! external OIDC issuer verified against a JWKS file, with one claim naming the member.

use crate::error::{ApiError, codes};
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use kasane_domain::{MemberId, TenantId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The `iss` of tokens Kasane signs itself.
pub const KASANE_ISSUER: &str = "kasane";
/// Clock skew tolerated when checking `exp`, in seconds.
const LEEWAY_SECONDS: u64 = 30;

/// The claims of a Kasane token.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The member id.
    pub sub: String,
    /// The tenant slug the token is valid for.
    pub tenant: String,
    /// Always [`KASANE_ISSUER`].
    pub iss: String,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expires at (seconds since the epoch).
    pub exp: i64,
    /// Token id, for the logs.
    pub jti: String,
}

/// Signs and checks Kasane's own tokens with the server's secret.
#[derive(Clone)]
pub struct TokenSigner {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSigner(..)")
    }
}

impl TokenSigner {
    /// A signer over `secret` (at least 32 bytes; keep it out of the data it protects).
    pub fn new(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    /// A token for `member` of `tenant`, valid for `ttl` from `now`.
    pub fn issue(
        &self,
        tenant: &TenantId,
        member: MemberId,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> String {
        let claims = Claims {
            sub: member.as_uuid().to_string(),
            tenant: tenant.as_str().to_owned(),
            iss: KASANE_ISSUER.to_owned(),
            iat: now.timestamp(),
            exp: (now + ttl).timestamp(),
            jti: Uuid::now_v7().to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing cannot fail")
    }

    fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECONDS;
        validation.set_issuer(&[KASANE_ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|t| t.claims)
            .map_err(token_error)
    }
}

/// An external OpenID Connect issuer whose tokens are accepted too.
#[derive(Clone, Debug)]
pub struct OidcIssuer {
    /// The expected `iss`.
    pub issuer: String,
    /// The expected `aud`, if any.
    pub audience: Option<String>,
    /// The issuer's public keys (from its JWKS document, saved to a file).
    pub keys: JwkSet,
    /// The claim whose value is the Kasane member id (e.g. `kasane_member`).
    pub member_claim: String,
    /// The claim holding the tenant slug; when set, a token for another tenant is refused.
    pub tenant_claim: Option<String>,
}

impl OidcIssuer {
    fn verify(&self, token: &str, tenant: &TenantId) -> Result<MemberId, ApiError> {
        let header = jsonwebtoken::decode_header(token).map_err(token_error)?;
        if matches!(
            header.alg,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        ) {
            return Err(invalid(
                "an external token must be signed with a public-key algorithm",
            ));
        }
        let jwk = match &header.kid {
            Some(kid) => self.keys.find(kid),
            None if self.keys.keys.len() == 1 => self.keys.keys.first(),
            None => None,
        }
        .ok_or_else(|| invalid("the token's key id is not in the issuer's key set"))?;
        let key = DecodingKey::from_jwk(jwk).map_err(token_error)?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECONDS;
        validation.set_issuer(&[&self.issuer]);
        match &self.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        let claims = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            &key,
            &validation,
        )
        .map_err(token_error)?
        .claims;
        if let Some(claim) = &self.tenant_claim {
            let given = claims.get(claim).and_then(|v| v.as_str());
            if given != Some(tenant.as_str()) {
                return Err(foreign_tenant());
            }
        }
        let member = claims
            .get(&self.member_claim)
            .and_then(|v| v.as_str())
            .ok_or_else(|| {
                invalid(format!(
                    "the token has no {:?} claim naming a Kasane member",
                    self.member_claim
                ))
            })?;
        parse_member(member)
    }
}

/// Checks bearer tokens for one tenant.
#[derive(Clone, Debug)]
pub struct Authenticator {
    tenant: TenantId,
    signer: TokenSigner,
    oidc: Option<OidcIssuer>,
}

impl Authenticator {
    /// Accepts Kasane tokens signed by `signer` and, if given, tokens of `oidc`.
    pub fn new(tenant: TenantId, signer: TokenSigner, oidc: Option<OidcIssuer>) -> Self {
        Self {
            tenant,
            signer,
            oidc,
        }
    }

    /// The member a bearer token speaks for (the directory check comes after).
    pub fn verify(&self, token: &str) -> Result<MemberId, ApiError> {
        let header = jsonwebtoken::decode_header(token).map_err(token_error)?;
        if header.alg != Algorithm::HS256 {
            return match &self.oidc {
                Some(oidc) => oidc.verify(token, &self.tenant),
                None => Err(invalid(
                    "this server accepts only tokens from `kasane token issue`",
                )),
            };
        }
        let claims = self.signer.verify(token)?;
        if claims.tenant != self.tenant.as_str() {
            return Err(foreign_tenant());
        }
        parse_member(&claims.sub)
    }

    /// The token from an `Authorization: Bearer …` header value.
    pub fn bearer(header: &str) -> Result<&str, ApiError> {
        header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::new(
                    codes::UNAUTHENTICATED,
                    "send the token as `Authorization: Bearer <token>`",
                )
            })
    }
}

fn parse_member(text: &str) -> Result<MemberId, ApiError> {
    Uuid::parse_str(text)
        .map(MemberId::from_uuid)
        .map_err(|_| invalid("the token's subject is not a member id"))
}

fn invalid(message: impl Into<String>) -> ApiError {
    let message: String = message.into();
    ApiError::new(
        codes::TOKEN_INVALID,
        format!("{message}: sign in again to get a valid token"),
    )
}

fn foreign_tenant() -> ApiError {
    ApiError::new(
        codes::FOREIGN_TENANT,
        "this token was issued for another tenant: use a token of this municipality's Kasane",
    )
}

fn token_error(e: jsonwebtoken::errors::Error) -> ApiError {
    match e.kind() {
        ErrorKind::ExpiredSignature => ApiError::new(
            codes::TOKEN_EXPIRED,
            "the token has expired: get a new one (e.g. `kasane token issue`)",
        ),
        ErrorKind::InvalidSignature => invalid("the token's signature does not verify"),
        ErrorKind::InvalidIssuer => {
            invalid("the token comes from an issuer this server does not trust")
        }
        ErrorKind::InvalidAudience => invalid("the token is meant for another audience"),
        _ => invalid(format!("the token cannot be read ({e})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> TenantId {
        TenantId::parse("kasane-city").unwrap()
    }

    #[test]
    fn own_token_round_trips_and_expiry_and_tenant_are_checked() {
        let signer = TokenSigner::new(&[7; 32]);
        let auth = Authenticator::new(tenant(), signer.clone(), None);
        let member = MemberId::from_uuid(Uuid::now_v7());
        let now = Utc::now();
        let token = signer.issue(&tenant(), member, Duration::hours(8), now);
        assert_eq!(auth.verify(&token).unwrap(), member);

        let old = signer.issue(
            &tenant(),
            member,
            Duration::minutes(5),
            now - Duration::hours(1),
        );
        assert_eq!(auth.verify(&old).unwrap_err().code, codes::TOKEN_EXPIRED);

        let other = TenantId::parse("other-town").unwrap();
        let foreign = signer.issue(&other, member, Duration::hours(1), now);
        assert_eq!(
            auth.verify(&foreign).unwrap_err().code,
            codes::FOREIGN_TENANT
        );

        let forged = TokenSigner::new(&[8; 32]).issue(&tenant(), member, Duration::hours(1), now);
        assert_eq!(auth.verify(&forged).unwrap_err().code, codes::TOKEN_INVALID);
        assert_eq!(
            auth.verify("not a token").unwrap_err().code,
            codes::TOKEN_INVALID
        );
    }

    /// A throwaway P-256 key made for tests only (tests/fixtures/README.md).
    const TEST_EC_KEY: &str = include_str!("../tests/fixtures/oidc-es256.pem");

    fn issuer(tenant_claim: Option<&str>) -> OidcIssuer {
        let jwks: serde_json::Value =
            serde_json::from_str(include_str!("../tests/fixtures/oidc-jwks.json")).unwrap();
        OidcIssuer {
            issuer: "https://id.example.jp".into(),
            audience: Some("kasane".into()),
            keys: serde_json::from_value(jwks).unwrap(),
            member_claim: "kasane_member".into(),
            tenant_claim: tenant_claim.map(str::to_owned),
        }
    }

    fn external(claims: serde_json::Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("k1".into());
        let key = EncodingKey::from_ec_pem(TEST_EC_KEY.as_bytes()).unwrap();
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    }

    #[test]
    fn external_oidc_tokens_map_a_claim_to_a_member() {
        let member = MemberId::from_uuid(Uuid::now_v7());
        let exp = (Utc::now() + Duration::hours(1)).timestamp();
        let auth = Authenticator::new(
            tenant(),
            TokenSigner::new(&[7; 32]),
            Some(issuer(Some("tenant"))),
        );
        let good = serde_json::json!({"iss": "https://id.example.jp", "aud": "kasane",
            "exp": exp, "kasane_member": member.to_string(), "tenant": "kasane-city"});
        assert_eq!(auth.verify(&external(good.clone())).unwrap(), member);

        let mut other_tenant = good.clone();
        other_tenant["tenant"] = "other-town".into();
        assert_eq!(
            auth.verify(&external(other_tenant)).unwrap_err().code,
            codes::FOREIGN_TENANT
        );
        let mut wrong_aud = good.clone();
        wrong_aud["aud"] = "someone-else".into();
        assert_eq!(
            auth.verify(&external(wrong_aud)).unwrap_err().code,
            codes::TOKEN_INVALID
        );
        let mut no_member = good.clone();
        no_member.as_object_mut().unwrap().remove("kasane_member");
        assert_eq!(
            auth.verify(&external(no_member)).unwrap_err().code,
            codes::TOKEN_INVALID
        );
        let mut expired = good;
        expired["exp"] = (Utc::now() - Duration::hours(1)).timestamp().into();
        assert_eq!(
            auth.verify(&external(expired)).unwrap_err().code,
            codes::TOKEN_EXPIRED
        );

        let without_oidc = Authenticator::new(tenant(), TokenSigner::new(&[7; 32]), None);
        let exp_ok = serde_json::json!({"iss": "https://id.example.jp", "aud": "kasane",
            "exp": exp, "kasane_member": member.to_string()});
        assert_eq!(
            without_oidc.verify(&external(exp_ok)).unwrap_err().code,
            codes::TOKEN_INVALID
        );
    }

    #[test]
    fn bearer_header_is_required() {
        assert_eq!(Authenticator::bearer("Bearer abc").unwrap(), "abc");
        assert_eq!(
            Authenticator::bearer("Basic abc").unwrap_err().code,
            codes::UNAUTHENTICATED
        );
    }
}
