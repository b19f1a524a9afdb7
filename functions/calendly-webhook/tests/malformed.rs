//! Malformed input, as properties on a real database: random bytes and mutated fixtures, signed
//! with the client's key so that they reach parsing, mapping and the write path. Never a 5xx,
//! never a panic, and nothing is written unless the answer says "recorded".

mod common;

use calendly_webhook::{calendly, mapping};
use common::*;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::Value;
use shared::testing::bad_input::{self, Mutation, MUTATION_TEXT};

/// Text replacements include NUL, which PostgreSQL refuses in text: free text loses it, an id
/// holding it is a 400.
fn mutation() -> impl Strategy<Value = Mutation> {
    (any::<usize>(), 0u8..9, MUTATION_TEXT, any::<i64>()).prop_map(|(target, op, text, number)| Mutation { target, op, text, number })
}

#[test]
fn random_bytes_are_refused_and_write_nothing() {
    let rt = bad_input::runtime();
    let (_db, client, app) = rt.block_on(seeded_app());
    let strategy = (proptest::collection::vec(any::<u8>(), 0..2048), any::<bool>());
    TestRunner::new(bad_input::config(64))
        .run(&strategy, |(bytes, sign)| {
            rt.block_on(async {
                let before = fingerprint(&client).await;
                let a = post(&app, CLIENT, &bytes, sign.then(|| signed(KEY, &bytes))).await;
                prop_assert!(a.status.is_client_error(), "{:?}", a);
                prop_assert_eq!(fingerprint(&client).await, before);
                Ok(())
            })
        })
        .unwrap();
}

#[test]
fn mutated_fixtures_never_5xx_and_write_only_when_recorded() {
    let rt = bad_input::runtime();
    let (_db, client, app) = rt.block_on(seeded_app());
    let docs: Vec<Value> = FIXTURES.iter().map(|f| serde_json::from_slice(&fixture(f)).unwrap()).collect();
    let strategy =
        (0..docs.len(), proptest::collection::vec(mutation(), 1..4), proptest::option::of((any::<usize>(), any::<u8>(), any::<bool>())));
    let outcomes = std::cell::RefCell::new(std::collections::BTreeMap::<String, usize>::new());
    TestRunner::new(bad_input::config(64))
        .run(&strategy, |(which, mutations, byte_edit)| {
            let mut doc = docs[which].clone();
            for m in &mutations {
                m.apply(&mut doc);
            }
            let mut body = serde_json::to_vec(&doc).unwrap();
            if let Some((pos, byte, truncate)) = byte_edit {
                let pos = pos % body.len().max(1);
                if truncate {
                    body.truncate(pos);
                } else if !body.is_empty() {
                    body[pos] = byte;
                }
            }
            let outcome = rt.block_on(async {
                let before = fingerprint(&client).await;
                let a = post(&app, CLIENT, &body, Some(signed(KEY, &body))).await;
                prop_assert!(!a.status.is_server_error(), "{:?}", a);
                let recorded = a.taken() == Some("recorded");
                if recorded {
                    // Only a readable delivery of a recorded type gets this far.
                    let delivery = calendly::parse(&body).expect("recorded bodies parse");
                    prop_assert!(matches!(mapping::observation(CLIENT, &delivery), Ok(Some(_))));
                } else {
                    prop_assert_eq!(fingerprint(&client).await, before, "answer {:?} wrote", a.body);
                }
                Ok(format!("{} {}", a.status.as_u16(), a.taken().unwrap_or_else(|| a.problem_type())))
            })?;
            *outcomes.borrow_mut().entry(outcome).or_default() += 1;
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let outcomes = outcomes.into_inner();
    eprintln!("outcomes: {outcomes:?}");
    // The mutations reach every layer: refusals and taken deliveries both occur.
    assert!(outcomes.keys().any(|k| k.starts_with("400")), "{outcomes:?}");
    assert!(outcomes.keys().any(|k| k.starts_with("200")), "{outcomes:?}");
}
