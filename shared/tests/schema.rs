//! The schema is what `prisma migrate` would create, and the migrations are safe to re-run.
//!
//! Three databases on the real server:
//! - "prisma": the CRM baseline, then the plain DDL Prisma emits for `prisma/schema.prisma` against
//!   it (derived from the schema file by `prisma_ddl`);
//! - "ours": the migration runner (baseline + `migrations/service`);
//! - "ours" again after applying every migration file by hand a second time.
//!
//! Their catalogs (types, columns, defaults, indexes, constraints, enums) must be identical, and
//! running the migrations on the "prisma" database must change nothing.

mod prisma_ddl;

use shared::migrate::{self, Baseline};
use shared::testing::{server_url, with_database};
use shared::DbSettings;
use tokio_postgres::Client;

async fn empty_database() -> (String, Client) {
    let server = server_url().await.unwrap();
    let admin = DbSettings::from_url(&server).unwrap().connect().await.unwrap();
    let name = format!("appt_schema_{}", uuid::Uuid::new_v4().simple());
    admin.batch_execute(&format!(r#"CREATE DATABASE "{name}" TEMPLATE template0"#)).await.unwrap();
    let url = with_database(&server, &name).unwrap();
    let client = DbSettings::from_url(&url).unwrap().connect().await.unwrap();
    (url, client)
}

/// What Prisma would run to bring `db` to `prisma/schema.prisma`.
async fn prisma_ddl(db: &Client) -> String {
    let schema = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../prisma/schema.prisma")).unwrap();
    let pairs = |sql: &'static str| async move {
        let rows = db.query(sql, &[]).await.unwrap();
        rows.iter().map(|r| (r.get::<_, String>(0), r.get::<_, String>(1))).collect::<Vec<_>>()
    };
    let mut existing = prisma_ddl::Existing::default();
    for (table, column) in
        pairs("SELECT table_name::text, column_name::text FROM information_schema.columns WHERE table_schema = 'public'").await
    {
        existing.columns.insert(format!("{table}.{column}"));
        existing.tables.insert(table);
    }
    for (name, value) in pairs(
        "SELECT t.typname::text, e.enumlabel::text FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid
          WHERE t.typnamespace = 'public'::regnamespace ORDER BY t.typname, e.enumsortorder",
    )
    .await
    {
        existing.enums.entry(name).or_default().push(value);
    }
    prisma_ddl::ddl(&schema, &existing)
}

/// Everything Prisma and the CRM care about, as sorted text lines.
async fn catalog(db: &Client) -> Vec<String> {
    let queries = [
        r#"SELECT 'enum ' || t.typname || ' ' || string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
             FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY t.typname"#,
        r#"SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                  || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
                  || coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
              AND c.relname NOT LIKE '\_appointment\_history%'"#,
        r#"SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename NOT LIKE '\_appointment\_history%'"#,
        r#"SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
             FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text NOT LIKE '\_appointment\_history%'"#,
    ];
    let mut lines = Vec::new();
    for q in queries {
        for row in db.query(q, &[]).await.unwrap() {
            lines.push(row.get::<_, String>(0));
        }
    }
    lines.sort();
    lines
}

#[tokio::test]
async fn migrations_create_exactly_the_prisma_schema_and_rerun_as_no_ops() {
    // Prisma's DDL on top of the CRM baseline.
    let (_, prisma) = empty_database().await;
    for (name, sql) in migrate::crm_baseline_sql() {
        prisma.batch_execute(&sql).await.unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let ddl = prisma_ddl(&prisma).await;
    prisma.batch_execute(&ddl).await.unwrap_or_else(|e| panic!("{e:?}\n{ddl}"));
    let expected = catalog(&prisma).await;

    // Ours, through the runner.
    let (_, mut ours) = empty_database().await;
    migrate::run(&mut ours, Baseline::Create).await.unwrap();
    let actual = catalog(&ours).await;
    let missing: Vec<_> = expected.iter().filter(|l| !actual.contains(l)).collect();
    let extra: Vec<_> = actual.iter().filter(|l| !expected.contains(l)).collect();
    assert!(missing.is_empty() && extra.is_empty(), "schema differs from Prisma's\nmissing: {missing:#?}\nextra: {extra:#?}");

    // Every file applied again by hand: nothing changes.
    for (name, sql) in migrate::crm_baseline_sql().into_iter().chain(migrate::service_sql()) {
        ours.batch_execute(&sql).await.unwrap_or_else(|e| panic!("re-applying {name}: {e}"));
    }
    assert_eq!(catalog(&ours).await, expected, "re-applying the migrations changed the schema");
    // And the runner again: nothing to do.
    migrate::run(&mut ours, Baseline::Create).await.unwrap();
    assert_eq!(catalog(&ours).await, expected);

    // Onto a database where the CRM (Prisma) already created everything: succeeds, changes nothing.
    let mut prisma = prisma;
    migrate::run(&mut prisma, Baseline::Skip).await.unwrap();
    assert_eq!(catalog(&prisma).await, expected, "migrating a Prisma-made database changed it");
}

#[tokio::test]
async fn appointment_table_has_prismas_names_types_and_constraints() {
    let (_, mut db) = empty_database().await;
    migrate::run(&mut db, Baseline::Create).await.unwrap();
    let lines = catalog(&db).await;
    for expected in [
        r#"column Appointment.id text NOT NULL"#,
        r#"column Appointment.startAt timestamp(3) without time zone"#,
        r#"column Appointment.status "AppointmentStatus" NOT NULL"#,
        r#"column Appointment.statusChangedAt timestamp(3) without time zone NOT NULL DEFAULT CURRENT_TIMESTAMP"#,
        r#"column Appointment.updatedAt timestamp(3) without time zone NOT NULL"#,
        r#"index CREATE UNIQUE INDEX "Appointment_ghlAppointmentId_key" ON public."Appointment" USING btree ("ghlAppointmentId")"#,
        r#"index CREATE UNIQUE INDEX "Appointment_calendlyInviteeUri_key" ON public."Appointment" USING btree ("calendlyInviteeUri")"#,
        r#"index CREATE INDEX "Appointment_leadId_idx" ON public."Appointment" USING btree ("leadId")"#,
        r#"index CREATE INDEX "Appointment_leadId_status_idx" ON public."Appointment" USING btree ("leadId", status)"#,
        r#"constraint "Appointment" Appointment_pkey PRIMARY KEY (id)"#,
        r#"constraint "Appointment" Appointment_leadId_fkey FOREIGN KEY ("leadId") REFERENCES "Lead"(id) ON UPDATE CASCADE ON DELETE CASCADE"#,
        r#"enum AppointmentStatus CONFIRMED,CANCELED,RESCHEDULED,SHOWED,NO_SHOW"#,
        r#"enum AppointmentSource WEBHOOK,RECONCILE_CRON,BACKFILL,AUTO_BOOK,MANUAL,MIGRATION"#,
        r#"enum MeetingBookingProvider GHL,CALENDLY"#,
    ] {
        assert!(lines.iter().any(|l| l == expected), "missing: {expected}\nhave:\n{}", lines.join("\n"));
    }
}
