//! Turning `validator`'s errors into the one sentence a 400 carries. A leaf module:
//! request shapes in `search`, `schema` and `service` declare their rules with
//! `validator` derives, and each maps the sentence to its own error kind.

use validator::{ValidationError, ValidationErrors};

/// The first failed rule, trying the fields in `order` first (so the most telling
/// parameter is named when several are wrong), then the rest by name: the field and
/// the rule's message (its own, or one naming the field), with the offending value
/// for a range.
pub fn first_error(errors: &ValidationErrors, order: &[&str]) -> Option<(String, String)> {
    let fields = errors.field_errors();
    let mut rest: Vec<&str> = fields.keys().map(|name| name.as_ref()).collect();
    rest.sort_unstable();
    order.iter().copied().chain(rest).find_map(|field| {
        let error = fields.get(field)?.first()?;
        Some((field.to_owned(), message(field, error)))
    })
}

fn message(field: &str, error: &ValidationError) -> String {
    let mut message = error
        .message
        .as_deref()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("`{field}` is invalid"));
    if error.code == "range"
        && let Some(value) = error.params.get("value")
    {
        message.push_str(&format!(", got {value}"));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use validator::Validate;

    #[derive(Validate)]
    struct Shape {
        #[validate(range(min = 1, max = 10, message = "`limit` must be from 1 to 10"))]
        limit: u32,
        #[validate(length(max = 3, message = "`q` is too long"))]
        q: String,
    }

    #[test]
    fn the_ordered_field_comes_first_and_ranges_name_the_value() {
        let errors = Shape {
            limit: 11,
            q: "long".into(),
        }
        .validate()
        .expect_err("both wrong");
        assert_eq!(
            first_error(&errors, &["q"]),
            Some(("q".into(), "`q` is too long".into()))
        );
        assert_eq!(
            first_error(&errors, &[]),
            Some((
                "limit".into(),
                "`limit` must be from 1 to 10, got 11".into()
            ))
        );
    }
}
