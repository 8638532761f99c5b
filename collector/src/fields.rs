//! `scrim fields`: the field catalogue as a Markdown table, so anyone can see
//! what scrim can collect and how sensitive each field is. The README's
//! schema section is this table verbatim (a test keeps them equal).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_shows_the_current_catalogue() {
        let readme = include_str!("../../README.md");
        for kind in EventKind::ALL {
            let table = catalogue_table(kind);
            assert!(
                readme.contains(&table),
                "README.md's schema table for kind={} is stale; replace it with the \
                 output of `scrim fields`:\n{table}",
                kind.as_str()
            );
        }
    }
}
