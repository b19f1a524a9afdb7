//! Create, time change, cancel and delete, delivered in any order and with duplicates, end in the
//! same rows, rollup and tasks as the in-order delivery (each case on its own database).

mod common;

use common::*;
use proptest::prelude::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

async fn delivered(order: &[usize]) -> (Vec<String>, Vec<u16>) {
    let (_db, client, app) = seeded_app().await;
    let mut statuses = Vec::new();
    for &i in order {
        statuses.push(deliver(&app, STORY[i]).await.status.as_u16());
    }
    (state(&client).await, statuses)
}

/// A permutation of the story with some deliveries repeated (GHL retries, duplicate subscriptions).
fn orders() -> impl Strategy<Value = Vec<usize>> {
    (Just(vec![0usize, 1, 2, 3]).prop_shuffle(), proptest::collection::vec((0usize..4, 0usize..8), 0..4)).prop_map(
        |(mut order, repeats)| {
            for (event, at) in repeats {
                order.insert(at.min(order.len()), event);
            }
            order
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn any_order_with_duplicates_ends_as_in_order(order in orders()) {
        let rt = runtime();
        let (expected, _) = rt.block_on(delivered(&[0, 1, 2, 3]));
        let (got, statuses) = rt.block_on(delivered(&order));
        prop_assert!(statuses.iter().all(|s| *s == 200), "{order:?}: {statuses:?}");
        prop_assert_eq!(got, expected, "{:?}", order);
    }
}
