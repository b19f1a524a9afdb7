//! What `prisma migrate diff --from-url <database> --to-schema-datamodel prisma/schema.prisma
//! --script` emits for PostgreSQL, for the part of the Prisma schema language that
//! `prisma/schema.prisma` uses. Prisma's schema engine cannot be fetched on a closed network, so the
//! schema test derives the expected DDL from the schema file with Prisma's documented rules:
//! - scalar types: `String` TEXT, `Int` INTEGER, `Boolean` BOOLEAN, `DateTime` TIMESTAMP(3),
//!   `Json` JSONB, an enum its type; `?` is nullable, anything else NOT NULL;
//! - defaults: `now()` CURRENT_TIMESTAMP, literals as they are; `uuid()` and `@updatedAt` are
//!   filled in by Prisma Client, so the column has no default;
//! - names: `{Model}_pkey`, `{Model}_{fields}_key` (unique), `{Model}_{fields}_idx`,
//!   `{Model}_{fields}_fkey`;
//! - foreign keys: `onDelete` defaults to SET NULL for an optional relation and RESTRICT for a
//!   required one, `onUpdate` to CASCADE.
//!
//! A model whose table already exists (the CRM's `Lead`, whose own fields the schema file leaves
//! out) gets only its missing columns, as the diff against the live database does; an enum that
//! already exists must already have the schema's values. Anything the
//! rules above do not cover panics, so that a schema change this reader cannot follow fails the test
//! instead of passing it.
//!
//! Prisma's documentation of these rules: "Database mapping" (constraint and index names),
//! "Referential actions" (the defaults), "Native database types" (`uuid()` and `cuid()` map to no
//! database feature) and the Prisma schema reference (the scalar types' PostgreSQL types), all at
//! <https://www.prisma.io/docs/orm>.

use std::collections::{BTreeMap, BTreeSet};

/// What the database already holds.
#[derive(Default)]
pub struct Existing {
    pub tables: BTreeSet<String>,
    /// `Table.column`.
    pub columns: BTreeSet<String>,
    /// Enum types and their values, in order.
    pub enums: BTreeMap<String, Vec<String>>,
}

/// A field of a model, as written.
struct Field {
    name: String,
    /// The type without `?` or `[]`.
    ty: String,
    optional: bool,
    list: bool,
    /// Attributes (`@id`, `@default(now())`, ...), comments removed.
    attributes: Vec<String>,
}

struct Model {
    name: String,
    fields: Vec<Field>,
    /// `@@index(...)`, `@@unique(...)`, `@@id(...)`.
    block_attributes: Vec<String>,
}

struct Schema {
    enums: Vec<(String, Vec<String>)>,
    models: Vec<Model>,
}

/// The DDL that brings a database holding `existing` to the schema.
pub fn ddl(schema_text: &str, existing: &Existing) -> String {
    let schema = parse(schema_text);
    let enums: BTreeSet<&str> = schema.enums.iter().map(|(name, _)| name.as_str()).collect();
    let models: BTreeSet<&str> = schema.models.iter().map(|m| m.name.as_str()).collect();
    let mut out = Vec::new();
    for (name, values) in &schema.enums {
        if let Some(have) = existing.enums.get(name) {
            assert_eq!(have, values, "enum {name}: the database's values differ from the schema's");
            continue;
        }
        let values: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
        out.push(format!(r#"CREATE TYPE "{name}" AS ENUM ({});"#, values.join(", ")));
    }
    let mut indexes = Vec::new();
    let mut foreign_keys = Vec::new();
    for model in &schema.models {
        let table = &model.name;
        let columns: Vec<&Field> = model.fields.iter().filter(|f| !models.contains(f.ty.as_str())).collect();
        let mut primary_key: Option<Vec<String>> = None;
        let mut definitions = Vec::new();
        for field in &columns {
            assert!(!field.list, "{table}.{}: scalar lists are not supported", field.name);
            definitions.push((field.name.clone(), column(table, field, &enums)));
            for attribute in &field.attributes {
                if attribute == "@id" {
                    primary_key = Some(vec![field.name.clone()]);
                } else if attribute == "@unique" {
                    indexes.push(index(table, std::slice::from_ref(&field.name), true));
                }
            }
        }
        for attribute in &model.block_attributes {
            let (kind, fields) = block_attribute(table, attribute);
            match kind {
                "@@id" => primary_key = Some(fields),
                "@@unique" => indexes.push(index(table, &fields, true)),
                "@@index" => indexes.push(index(table, &fields, false)),
                other => panic!("{table}: unsupported block attribute {other}"),
            }
        }
        for field in model.fields.iter().filter(|f| models.contains(f.ty.as_str())) {
            if let Some(fk) = foreign_key(table, field) {
                foreign_keys.push(fk);
            }
        }
        if existing.tables.contains(table) {
            assert!(primary_key.is_none(), "{table}: a primary key on an existing table is not supported");
            for (name, definition) in definitions {
                if !existing.columns.contains(&format!("{table}.{name}")) {
                    out.push(format!(r#"ALTER TABLE "{table}" ADD COLUMN {definition};"#));
                }
            }
        } else {
            let mut parts: Vec<String> = definitions.into_iter().map(|(_, d)| d).collect();
            let key = primary_key.unwrap_or_else(|| panic!("{table}: a new table needs @id or @@id"));
            parts.push(format!(r#"CONSTRAINT "{}" PRIMARY KEY ({})"#, name(&[table], "pkey"), quoted(&key)));
            out.push(format!("CREATE TABLE \"{table}\" (\n    {}\n);", parts.join(",\n    ")));
        }
    }
    out.extend(indexes);
    out.extend(foreign_keys);
    out.join("\n\n")
}

fn column(table: &str, field: &Field, enums: &BTreeSet<&str>) -> String {
    let ty = match field.ty.as_str() {
        "String" => "TEXT".to_string(),
        "Int" => "INTEGER".to_string(),
        "Boolean" => "BOOLEAN".to_string(),
        "DateTime" => "TIMESTAMP(3)".to_string(),
        "Json" => "JSONB".to_string(),
        e if enums.contains(e) => format!(r#""{e}""#),
        other => panic!("{table}.{}: unsupported type {other}", field.name),
    };
    let mut out = format!(r#""{}" {ty}"#, field.name);
    if !field.optional {
        out.push_str(" NOT NULL");
    }
    for attribute in &field.attributes {
        match attribute.as_str() {
            "@id" | "@unique" | "@updatedAt" | "@default(uuid())" | "@default(cuid())" => {}
            "@default(now())" => out.push_str(" DEFAULT CURRENT_TIMESTAMP"),
            a if a.starts_with("@default(") => {
                let value = &a["@default(".len()..a.len() - 1];
                let literal = match value {
                    "true" | "false" => value.to_string(),
                    v if v.parse::<f64>().is_ok() => v.to_string(),
                    v if v.starts_with('"') => format!("'{}'", v.trim_matches('"')),
                    v if enums.contains(field.ty.as_str()) => format!("'{v}'"),
                    v => panic!("{table}.{}: unsupported default {v}", field.name),
                };
                out.push_str(&format!(" DEFAULT {literal}"));
            }
            other => panic!("{table}.{}: unsupported attribute {other}", field.name),
        }
    }
    out
}

/// The foreign key a relation field declares with `fields:`/`references:` (the other side of a
/// relation, a list or a bare `@relation("name")`, declares none).
fn foreign_key(table: &str, field: &Field) -> Option<String> {
    let relation = field.attributes.iter().find(|a| a.starts_with("@relation("))?;
    let args = &relation["@relation(".len()..relation.len() - 1];
    let fields = list_argument(args, "fields:")?;
    let references = list_argument(args, "references:").unwrap_or_else(|| panic!("{table}.{}: fields without references", field.name));
    let action = |key: &str, default: &str| match named_argument(args, key) {
        None => default.to_string(),
        Some("Cascade") => "CASCADE".into(),
        Some("SetNull") => "SET NULL".into(),
        Some("Restrict") => "RESTRICT".into(),
        Some("NoAction") => "NO ACTION".into(),
        Some("SetDefault") => "SET DEFAULT".into(),
        Some(other) => panic!("{table}.{}: unknown referential action {other}", field.name),
    };
    let on_delete = action("onDelete:", if field.optional { "SET NULL" } else { "RESTRICT" });
    let on_update = action("onUpdate:", "CASCADE");
    let constraint = name(&[table, &fields.join("_")], "fkey");
    Some(format!(
        r#"ALTER TABLE "{table}" ADD CONSTRAINT "{constraint}" FOREIGN KEY ({}) REFERENCES "{}"({}) ON DELETE {on_delete} ON UPDATE {on_update};"#,
        quoted(&fields),
        field.ty,
        quoted(&references)
    ))
}

fn index(table: &str, fields: &[String], unique: bool) -> String {
    let (kind, suffix) = if unique { ("UNIQUE INDEX", "key") } else { ("INDEX", "idx") };
    let columns: Vec<String> = fields.iter().map(|f| format!(r#""{f}""#)).collect();
    format!(r#"CREATE {kind} "{}" ON "{table}"({});"#, name(&[table, &fields.join("_")], suffix), columns.join(", "))
}

/// `{parts joined by _}_{suffix}`; PostgreSQL would cut a longer name, and Prisma with it.
fn name(parts: &[&str], suffix: &str) -> String {
    let name = format!("{}_{suffix}", parts.join("_"));
    assert!(name.len() <= 63, "{name}: longer than PostgreSQL's identifiers");
    name
}

fn quoted(columns: &[String]) -> String {
    columns.iter().map(|c| format!(r#""{c}""#)).collect::<Vec<_>>().join(",")
}

/// `@@index([a, b])` → ("@@index", [a, b]).
fn block_attribute<'a>(table: &str, attribute: &'a str) -> (&'a str, Vec<String>) {
    let (kind, rest) = attribute.split_once('(').unwrap_or_else(|| panic!("{table}: {attribute}"));
    let fields = list_argument(&format!("fields: {}", rest.trim_end_matches(')')), "fields:")
        .unwrap_or_else(|| panic!("{table}: {attribute}: only a list of fields is supported"));
    (kind, fields)
}

/// The list after `key` in `args` (`fields: [a, b]` → [a, b]).
fn list_argument(args: &str, key: &str) -> Option<Vec<String>> {
    let start = args.find(key)? + key.len();
    let rest = args[start..].trim_start().strip_prefix('[')?;
    let end = rest.find(']')?;
    Some(rest[..end].split(',').map(|f| f.trim().to_string()).filter(|f| !f.is_empty()).collect())
}

/// The word after `key` in `args` (`onDelete: Cascade` → Cascade).
fn named_argument<'a>(args: &'a str, key: &str) -> Option<&'a str> {
    let start = args.find(key)? + key.len();
    args[start..].split([',', ')']).next().map(str::trim)
}

fn parse(text: &str) -> Schema {
    let mut schema = Schema { enums: Vec::new(), models: Vec::new() };
    let mut lines = text.lines().map(|l| l.split("//").next().unwrap_or("").trim()).filter(|l| !l.is_empty());
    while let Some(line) = lines.next() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["enum", name, "{"] => {
                let values = lines.by_ref().take_while(|l| *l != "}").map(str::to_string).collect();
                schema.enums.push((name.to_string(), values));
            }
            ["model", name, "{"] => {
                let mut model = Model { name: name.to_string(), fields: Vec::new(), block_attributes: Vec::new() };
                for line in lines.by_ref().take_while(|l| *l != "}") {
                    if line.starts_with("@@") {
                        model.block_attributes.push(line.to_string());
                    } else {
                        model.fields.push(field(name, line));
                    }
                }
                schema.models.push(model);
            }
            _ => panic!("unsupported top-level line: {line}"),
        }
    }
    schema
}

/// `name Type? @a @b(...)`, attributes split at top-level spaces.
fn field(model: &str, line: &str) -> Field {
    let (name, rest) = line.split_once(char::is_whitespace).unwrap_or_else(|| panic!("{model}: {line}"));
    let rest = rest.trim_start();
    let (ty, attributes) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let mut split = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    for c in attributes.trim().chars() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            _ => {}
        }
        if c.is_whitespace() && depth == 0 {
            if !current.is_empty() {
                split.push(std::mem::take(&mut current));
            }
        } else {
            current.push(c);
        }
    }
    if !current.is_empty() {
        split.push(current);
    }
    Field {
        name: name.to_string(),
        ty: ty.trim_end_matches('?').trim_end_matches("[]").to_string(),
        optional: ty.ends_with('?'),
        list: ty.ends_with("[]"),
        attributes: split,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_as_prisma_writes_it() {
        let schema = r#"
            enum Color {
              RED
              BLUE
            }
            enum Size {
              S
              L
            }
            model Owner {
              id    String  @id @default(uuid())
              pets  Pet[]
            }
            /// A pet.
            model Pet {
              id        String   @id
              ownerId   String   // the owner
              owner     Owner    @relation(fields: [ownerId], references: [id], onDelete: Cascade)
              friendId  String?
              friend    Owner?   @relation("Friend", fields: [friendId], references: [id])
              tag       String?  @unique
              color     Color    @default(RED)
              age       Int      @default(0)
              born      DateTime @default(now())
              updatedAt DateTime @updatedAt
              @@index([ownerId, color])
              @@unique([friendId, tag])
            }
            model Lead {
              old String?
              new Json?
            }
        "#;
        let existing = Existing {
            tables: BTreeSet::from(["Lead".to_string()]),
            columns: BTreeSet::from(["Lead.old".to_string()]),
            enums: BTreeMap::from([("Size".to_string(), vec!["S".to_string(), "L".to_string()])]),
        };
        let expected = r#"CREATE TYPE "Color" AS ENUM ('RED', 'BLUE');

CREATE TABLE "Owner" (
    "id" TEXT NOT NULL,
    CONSTRAINT "Owner_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "Pet" (
    "id" TEXT NOT NULL,
    "ownerId" TEXT NOT NULL,
    "friendId" TEXT,
    "tag" TEXT,
    "color" "Color" NOT NULL DEFAULT 'RED',
    "age" INTEGER NOT NULL DEFAULT 0,
    "born" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT "Pet_pkey" PRIMARY KEY ("id")
);

ALTER TABLE "Lead" ADD COLUMN "new" JSONB;

CREATE UNIQUE INDEX "Pet_tag_key" ON "Pet"("tag");

CREATE INDEX "Pet_ownerId_color_idx" ON "Pet"("ownerId", "color");

CREATE UNIQUE INDEX "Pet_friendId_tag_key" ON "Pet"("friendId", "tag");

ALTER TABLE "Pet" ADD CONSTRAINT "Pet_ownerId_fkey" FOREIGN KEY ("ownerId") REFERENCES "Owner"("id") ON DELETE CASCADE ON UPDATE CASCADE;

ALTER TABLE "Pet" ADD CONSTRAINT "Pet_friendId_fkey" FOREIGN KEY ("friendId") REFERENCES "Owner"("id") ON DELETE SET NULL ON UPDATE CASCADE;"#;
        assert_eq!(ddl(schema, &existing), expected);
    }

    #[test]
    #[should_panic(expected = "enum Size: the database's values differ")]
    fn an_existing_enum_with_other_values_fails() {
        let existing = Existing { enums: BTreeMap::from([("Size".to_string(), vec!["S".to_string()])]), ..Existing::default() };
        ddl("enum Size {\n  S\n  L\n}", &existing);
    }

    #[test]
    #[should_panic(expected = "unsupported attribute @db.VarChar(10)")]
    fn what_the_rules_do_not_cover_fails() {
        ddl("model A {\n  id String @id @db.VarChar(10)\n}", &Existing::default());
    }
}
