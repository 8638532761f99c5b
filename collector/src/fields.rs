//! `scrim fields`: the field catalogue as a Markdown table, so anyone can see
//! what scrim can collect and how sensitive each field is. The README's
//! schema section is this table verbatim (a test keeps them equal).
use scrim_event::{EventKind, field};

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
        let table = catalogue_table(EventKind::Process);
        assert!(
            readme.contains(&table),
            "README.md's schema table is stale; replace it with the output of \
             `scrim fields`:\n{table}"
        );
    }
}
