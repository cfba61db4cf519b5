//! Reading a `/proc/<pid>/stat` line: its second field, the command name,
//! is in parentheses and may itself hold spaces and parentheses, so the
//! fields after it are counted from the last `)`.

use std::str::SplitWhitespace;

/// The fields from the state (field 3 of proc(5)) on: `nth(0)` is the
/// state, `nth(1)` the parent PID, `nth(19)` the start time; `None` for a
/// line without a command name.
pub fn fields_after_comm(stat: &str) -> Option<SplitWhitespace<'_>> {
    Some(stat[stat.rfind(')')? + 1..].split_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_counted_past_a_command_name_with_spaces_and_parentheses() {
        let mut f = fields_after_comm("42 (a) b) S 7 42").unwrap();
        assert_eq!(
            (f.next(), f.next(), f.next()),
            (Some("S"), Some("7"), Some("42"))
        );
        assert!(fields_after_comm("garbage").is_none());
    }
}
