//! Event ids derived from a command id, so a retried command proposes the very same events.

use uuid::Uuid;

/// The id of the `index`-th event caused by `command_id`: the command id itself for the first,
/// then the command id with its last two bytes xor-ed with the index (still unique per command).
pub fn event_id_for(command_id: Uuid, index: usize) -> Uuid {
    let mut bytes = *command_id.as_bytes();
    let tag = (index as u16).to_be_bytes();
    bytes[14] ^= tag[0];
    bytes[15] ^= tag[1];
    Uuid::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_event_keeps_the_command_id_and_others_differ() {
        let c = Uuid::now_v7();
        assert_eq!(event_id_for(c, 0), c);
        let ids: std::collections::HashSet<_> = (0..50).map(|i| event_id_for(c, i)).collect();
        assert_eq!(ids.len(), 50);
    }
}
