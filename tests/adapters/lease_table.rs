//! The lease table on moto's DynamoDB, through the real adapter: of two holders one holds a
//! target's lease until it runs out or is let go of; renewing and letting go need the holder;
//! a lease parked between step events is taken over by a step event only.

use crate::common::moto;
use chrono::{DateTime, Utc};
use rotator_adapters::lease_table::DynamoLeases;
use rotator_engine::ports::{LeaseError, LeaseStore};
use rotator_engine::rotation::lease::BETWEEN_STEPS;

/// A DynamoDB client for moto and a new lease table (as template.yaml declares it).
async fn table() -> DynamoLeases {
    let client = moto::dynamodb_client().await;
    let name = moto::create_lease_table(&client).await;
    DynamoLeases::new(client, name)
}

fn at(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
}

#[tokio::test]
async fn of_two_holders_one_holds_the_lease_until_it_runs_out_or_is_let_go_of() {
    let t = table().await;
    t.acquire("jamf/smtp", "a", at(900), at(0), None)
        .await
        .unwrap();
    t.acquire("jamf/smtp", "a", at(960), at(60), None)
        .await
        .expect("its holder again");
    let held = t.acquire("jamf/smtp", "b", at(999), at(60), None).await;
    assert!(
        matches!(&held, Err(LeaseError::Held(Some(r))) if r.holder == "a" && r.expires == at(960)),
        "{held:?}"
    );
    assert!(matches!(
        t.renew("jamf/smtp", "b", "b", at(999)).await,
        Err(LeaseError::Held(_))
    ));
    t.release("jamf/smtp", "b").await.expect("a no-op");
    assert_eq!(t.holder("jamf/smtp").await.unwrap().unwrap().holder, "a");
    // Another target's lease is another item.
    (t.acquire("jamf/mail", "b", at(999), at(60), None).await).unwrap();

    // Parked between step events: only a step event takes it over.
    (t.renew("jamf/smtp", "a", BETWEEN_STEPS, at(1000)).await).unwrap();
    assert!(t
        .acquire("jamf/smtp", "c", at(999), at(60), None)
        .await
        .is_err());
    (t.acquire("jamf/smtp", "c", at(999), at(60), Some(BETWEEN_STEPS))
        .await)
        .unwrap();

    // Run out: anyone takes it; let go of: gone.
    (t.acquire("jamf/smtp", "d", at(2000), at(1000), None).await).unwrap();
    t.release("jamf/smtp", "d").await.unwrap();
    assert_eq!(t.holder("jamf/smtp").await.unwrap(), None);
}

#[tokio::test]
async fn a_missing_table_is_an_error_that_names_the_call_not_a_held_lease() {
    let t = table().await;
    let missing = DynamoLeases::new(moto::dynamodb_client().await, "no-such-table");
    drop(t);
    let e = missing
        .acquire("k", "a", at(900), at(0), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, LeaseError::Unavailable { operation, code, .. } if operation == "PutItem" && code == "ResourceNotFoundException"),
        "{e:?}"
    );
}
