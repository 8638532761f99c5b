//! `scrim fields`: the field catalogue as a Markdown table, so anyone can see
//! what scrim can collect and how sensitive each field is. `docs/fields.md`
//! is this output verbatim (`collector/tests/docs.rs` keeps them equal).
use scrim_event::{EventKind, field};

/// Every kind's table, each under a heading.
pub fn catalogue() -> String {
    EventKind::ALL
        .iter()
        .map(|&kind| format!("kind={}\n\n{}", kind.as_str(), catalogue_table(kind)))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn catalogue_table(kind: EventKind) -> String {
    let mut table =
        String::from("| column | type | data category | description |\n|---|---|---|---|\n");
    for field in field::of_kind(kind) {
        let nullable = if field.always_present {
            ""
        } else {
            ", nullable"
        };
        table.push_str(&format!(
            "| `{}` | {}{} | {} | {} |\n",
            field.name,
            field.field_type.as_str(),
            nullable,
            field.category.as_str(),
            field.description
        ));
    }
    table
}
