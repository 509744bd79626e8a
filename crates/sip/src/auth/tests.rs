//! Digest vectors from RFC 2617 §3.5 and RFC 7616 §3.9.1, plus values
//! computed independently (Python hashlib) for the variants the RFCs do not
//! list. RFC text and vectors: IETF Trust, used as test data.

use super::*;

const NONCE_7616: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
const CNONCE_7616: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
const OPAQUE_7616: &str = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS";

fn rfc7616_challenge(alg: &str) -> Challenge {
    Challenge::parse(&format!(
        "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", \
         algorithm={alg}, nonce=\"{NONCE_7616}\", opaque=\"{OPAQUE_7616}\""
    ))
    .unwrap()
}

fn mufasa<'a>(password: &'a str, cnonce: &'a str) -> DigestInput<'a> {
    DigestInput {
        username: "Mufasa",
        password,
        method: "GET",
        uri: "/dir/index.html",
        cnonce,
        nc: 1,
        body: b"",
    }
}

fn response_of(value: &str) -> String {
    let start = value.find("response=\"").unwrap() + 10;
    value[start..start + value[start..].find('"').unwrap()].to_string()
}

#[test]
fn rfc7616_md5_vector() {
    let c = rfc7616_challenge("MD5");
    assert_eq!(c.qop, vec!["auth", "auth-int"]);
    let v = authorization(&c, &mufasa("Circle of Life", CNONCE_7616)).unwrap();
    assert_eq!(response_of(&v), "8ca523f5e9506fed4657c9700eebdbec");
    assert!(v.contains("qop=auth, nc=00000001"));
    assert!(v.contains(&format!("opaque=\"{OPAQUE_7616}\"")));
}

#[test]
fn rfc7616_sha256_vector() {
    let c = rfc7616_challenge("SHA-256");
    assert_eq!(c.algorithm, Algorithm::Sha256);
    let v = authorization(&c, &mufasa("Circle of Life", CNONCE_7616)).unwrap();
    assert_eq!(
        response_of(&v),
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
    assert!(v.contains("algorithm=SHA-256"));
}

#[test]
fn session_variants_match_independent_computation() {
    let c = rfc7616_challenge("SHA-256-sess");
    let v = authorization(&c, &mufasa("Circle of Life", CNONCE_7616)).unwrap();
    assert_eq!(
        response_of(&v),
        "2fd51b3a77ad75bad6afad6003e818d767133c46d9e2749e7f5232ae1ea3efd7"
    );
    let c = rfc7616_challenge("MD5-sess");
    let v = authorization(&c, &mufasa("Circle of Life", CNONCE_7616)).unwrap();
    assert_eq!(response_of(&v), "e783283f46242139c486a698fec7211d");
}

#[test]
fn rfc2617_example() {
    let c = Challenge::parse(
        "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
         nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", \
         opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
    )
    .unwrap();
    assert_eq!(c.algorithm, Algorithm::Md5);
    let v = authorization(&c, &mufasa("Circle Of Life", "0a4f113b")).unwrap();
    assert_eq!(response_of(&v), "6629fae49393a05397450978507c4ef1");
}

#[test]
fn no_qop_uses_rfc2069_form() {
    let c = Challenge::parse(
        "Digest realm=\"testrealm@host.com\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\"",
    )
    .unwrap();
    let v = authorization(&c, &mufasa("Circle Of Life", "ignored")).unwrap();
    assert_eq!(response_of(&v), "670fd8c2df070c60b045671b8b24ff02");
    assert!(!v.contains("qop") && !v.contains("cnonce") && !v.contains("nc="));
}

#[test]
fn auth_int_only_hashes_the_body() {
    let c = Challenge::parse(&format!(
        "Digest realm=\"http-auth@example.org\", qop=\"auth-int\", nonce=\"{NONCE_7616}\""
    ))
    .unwrap();
    let input = DigestInput {
        method: "INVITE",
        uri: "sip:bob@example.org",
        body: b"v=0\r\n",
        ..mufasa("Circle of Life", CNONCE_7616)
    };
    let v = authorization(&c, &input).unwrap();
    assert_eq!(response_of(&v), "149bc0c1dc43c8e476c552f0c2c35ac2");
    assert!(verify(&c, &v, "INVITE", "Circle of Life", b"v=0\r\n").unwrap());
    assert!(!verify(&c, &v, "INVITE", "Circle of Life", b"v=1\r\n").unwrap());
}

#[test]
fn round_trip_against_verifier() {
    for alg in ["MD5", "MD5-sess", "SHA-256", "SHA-256-sess"] {
        let c = rfc7616_challenge(alg);
        let input = DigestInput {
            username: "agent\"007",
            method: "REGISTER",
            uri: "sip:pbx.example.com",
            nc: 7,
            ..mufasa("s3cret", "abc123")
        };
        let v = authorization(&c, &input).unwrap();
        assert!(v.contains("nc=00000007"));
        assert!(verify(&c, &v, "REGISTER", "s3cret", b"").unwrap(), "{alg}");
        assert!(!verify(&c, &v, "REGISTER", "wrong", b"").unwrap(), "{alg}");
        assert!(!verify(&c, &v, "INVITE", "s3cret", b"").unwrap(), "{alg}");
    }
}

#[test]
fn challenge_errors_are_clear() {
    assert_eq!(
        Challenge::parse("Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512-256"),
        Err(AuthError::UnsupportedAlgorithm("SHA-512-256".into()))
    );
    assert!(matches!(
        Challenge::parse("Basic realm=\"r\""),
        Err(AuthError::NotDigest(_))
    ));
    assert_eq!(
        Challenge::parse("Digest realm=\"r\""),
        Err(AuthError::MissingParam("nonce"))
    );
    assert!(matches!(
        Challenge::parse("Digest realm=\"r, nonce=n"),
        Err(AuthError::Malformed(_))
    ));
    let c = Challenge::parse("Digest realm=\"r\", nonce=\"n\", qop=\"auth-conf\"").unwrap();
    assert!(matches!(
        authorization(&c, &mufasa("p", "c")),
        Err(AuthError::UnsupportedQop(_))
    ));
}

#[test]
fn stale_flag_and_response_headers() {
    let raw = b"SIP/2.0 407 Proxy Authentication Required\r\n\
        Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
        From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>;tag=2\r\n\
        Call-ID: c1\r\nCSeq: 1 INVITE\r\n\
        Proxy-Authenticate: Digest realm=\"p\", nonce=\"n2\", stale=TRUE, algorithm=SHA-256\r\n\
        WWW-Authenticate: Digest realm=\"w\", nonce=\"n1\", algorithm=SHA-999\r\n\
        Content-Length: 0\r\n\r\n";
    let msg = crate::message::parse_datagram(raw).unwrap();
    let found = Challenge::from_response(&msg);
    assert_eq!(found.len(), 1, "the unsupported WWW challenge is skipped");
    let (origin, c) = &found[0];
    assert_eq!(origin.answer_header(), "Proxy-Authorization");
    assert!(c.stale);
    assert_eq!(c.realm, "p");
}
