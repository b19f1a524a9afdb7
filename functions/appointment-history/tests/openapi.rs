//! openapi.json itself: it is OpenAPI 3.1, it names every problem the code can answer, and the
//! contract check used by every other test does reject wrong bodies (so passing it means something).

mod common;

use appointment_history::problem::{Kind, Problem};
use common::contract;
use serde_json::json;

#[test]
fn the_document_is_openapi_3_1_with_every_route_and_problem() {
    let doc = contract().doc();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let mut operations: Vec<String> = Vec::new();
    for (path, item) in paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            if !item[method].is_null() {
                operations.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    operations.sort();
    assert_eq!(
        operations,
        ["GET /leads/{leadId}/appointments", "GET /leads/{leadId}/booking-status", "GET /ui/{file}", "POST /leads/{leadId}/appointments"]
    );
    // The view's files and headers are the ones the code serves.
    let ui = &doc["paths"]["/ui/{file}"]["get"];
    let mut files: Vec<&str> = ui["parameters"][0]["schema"]["enum"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let mut served: Vec<&str> = appointment_history::ui::ASSETS.iter().map(|a| a.name).collect();
    files.sort();
    served.sort();
    assert_eq!(files, served);
    assert_eq!(
        ui["responses"]["200"]["headers"]["Content-Security-Policy"]["schema"]["const"],
        appointment_history::ui::CONTENT_SECURITY_POLICY
    );
    let types: Vec<&str> = doc["components"]["schemas"]["Problem"]["properties"]["type"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    // The document names the time window the code enforces (shared::domain).
    let new = &doc["components"]["schemas"]["NewAppointment"]["properties"];
    for time in ["startAt", "endAt", "canceledAt"] {
        let description = new[time]["description"].as_str().unwrap_or("");
        for end in [shared::domain::EARLIEST_TIME, shared::domain::LATEST_TIME] {
            assert!(description.contains(end), "{time}: {description:?} does not name {end}");
        }
    }
    for kind in Kind::ALL {
        assert!(types.contains(&kind.type_uri()), "{kind:?} is not in openapi.json");
        contract().schema_ref("Problem").validate(&Problem::new(kind).body()).unwrap();
    }
}

#[test]
fn the_contract_rejects_wrong_bodies() {
    let appointment = json!({
        "origin": "appointment", "id": "a1", "provider": "GHL", "providerAppointmentId": "g1", "status": "CONFIRMED",
        "source": "MANUAL", "startAt": "2031-03-20T17:00:00.000Z", "endAt": "2031-03-20T17:30:00.000Z", "timezone": null,
        "statusChangedAt": "2031-03-01T00:00:00.000Z", "canceledAt": null, "canceledBy": null, "cancelReason": null,
        "rescheduledFromId": null, "rescheduledToIds": [], "isPrimary": true,
        "createdAt": "2031-03-01T00:00:00.000Z", "updatedAt": "2031-03-01T00:00:00.000Z"
    });
    let stored = contract().schema_ref("StoredAppointment");
    assert!(stored.is_valid(&appointment));
    let broken = [
        ("unknown status", "status", json!("DONE")),
        ("not a date-time", "startAt", json!("next tuesday")),
        ("missing field", "rescheduledToIds", serde_json::Value::Null),
        ("wrong origin", "origin", json!("leadRollup")),
    ];
    for (name, field, value) in broken {
        let mut body = appointment.clone();
        if value.is_null() {
            body.as_object_mut().unwrap().remove(field);
        } else {
            body[field] = value;
        }
        assert!(!stored.is_valid(&body), "{name}");
    }
    let mut extra = appointment.clone();
    extra["email"] = json!("x@example.com");
    assert!(!stored.is_valid(&extra), "an undocumented field");
    let timeline = contract().schema_ref("Timeline");
    let page = json!({"leadId": "l", "rollup": {"startAt": null, "endAt": null, "status": null, "canceledAt": null, "provider": null,
                      "source": null, "lastCheckedAt": null}, "primaryAppointmentId": "a1", "appointments": [appointment], "nextCursor": null});
    assert!(timeline.is_valid(&page));
    let task = json!({"id": "t1", "appointmentId": "a1", "type": "meeting-canceled", "status": "pending", "isUrgent": true,
                      "dueDate": "2031-03-01T00:00:00.000Z", "createdAt": "2031-03-01T00:00:00.000Z"});
    let mut with_tasks = page.clone();
    with_tasks["followUpTasks"] = json!([task]);
    assert!(timeline.is_valid(&with_tasks));
    for (name, field, value) in [("other task type", "type", json!("call-back")), ("urgency as text", "isUrgent", json!("yes"))] {
        let mut bad = with_tasks.clone();
        bad["followUpTasks"][0][field] = value;
        assert!(!timeline.is_valid(&bad), "{name}");
    }
    let mut no_cursor = page.clone();
    no_cursor.as_object_mut().unwrap().remove("nextCursor");
    assert!(!timeline.is_valid(&no_cursor));
}
