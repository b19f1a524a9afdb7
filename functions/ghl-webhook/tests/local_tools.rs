//! The local tools agree with the function: the sample events in events/ghl-webhook/ and the demo's
//! GHL story (scripts/demo/ghl/), signed by scripts/ghl-sign.py with the dev key pair, are taken
//! by the handler as `make dev` configures it.

mod common;

use chrono::{TimeDelta, Utc};
use common::*;
use ghl_webhook::signature::{self, SignatureError};

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The dev key pair's public half, as `make dev` asks the script for it.
fn dev_public_key() -> ed25519_dalek::VerifyingKey {
    let out = std::process::Command::new("python3").arg(root().join("scripts/ghl-sign.py")).arg("--public").output().unwrap();
    assert!(out.status.success());
    signature::parse_public_key(std::str::from_utf8(&out.stdout).unwrap()).unwrap()
}

#[test]
fn sample_events_are_signed_with_the_dev_key() {
    let key = dev_public_key();
    let dir = root().join("events/ghl-webhook");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let request = lambda_http::request::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let header = request.headers().get(signature::HEADER).map(|v| v.to_str().unwrap());
        let legacy = request.headers().contains_key(signature::LEGACY_HEADER);
        let expected = match name.as_str() {
            "unsigned.json" => Err(SignatureError::Missing),
            "legacy-rsa-signature.json" => Err(SignatureError::LegacyRefused),
            _ => Ok(()),
        };
        assert_eq!(signature::verify(header, legacy, request.body().as_ref(), &key), expected, "{name}");
        seen += 1;
    }
    assert_eq!(seen, 6);
}

#[tokio::test]
async fn the_demo_story_signed_by_the_script_is_recorded() {
    let (db, client) = seeded().await;
    let app = ghl_webhook::App::new(db.store().await, dev_public_key());
    let dir = root().join("scripts/demo/ghl");
    let tmp = std::env::temp_dir().join(format!("ghl-demo-{}", std::process::id()));
    let mut answers = Vec::new();
    for name in [
        "appointment-create.json",
        "appointment-create.json",
        "appointment-update-time.json",
        "appointment-update-cancelled.json",
        "second-appointment-create.json",
        "second-appointment-delete.json",
    ] {
        let out = std::process::Command::new("python3")
            .arg(root().join("scripts/ghl-sign.py"))
            .arg("--file")
            .arg(dir.join(name))
            .arg("--stamp")
            .arg(&tmp)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let sig = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let body = std::fs::read(&tmp).unwrap();
        let a = post_at(&app, &[(signature::HEADER, sig)], &body, Utc::now() + TimeDelta::seconds(1)).await;
        answers.push(a.taken().unwrap_or(a.problem_type()).to_string());
    }
    let _ = std::fs::remove_file(&tmp);
    assert_eq!(answers, ["recorded", "duplicate", "recorded", "recorded", "recorded", "recorded"]);
    let s = state(&client).await;
    assert!(s.iter().any(|l| l.contains("Zr8XcV2bN4mQ6wE1tY7u CANCELED") && l.contains("deleted in GHL")), "{s:?}");
}
