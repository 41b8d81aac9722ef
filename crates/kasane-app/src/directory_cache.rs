//! An in-memory copy of the agency/member directory, answering the domain's `Directory` trait.

use kasane_domain::directory::{AgencyState, MemberState};
use kasane_domain::{AgencyFacts, AgencyId, Directory, Event, MemberFacts, MemberId};
use std::collections::HashMap;

/// Directory state folded from `agency-*` and `member-*` events.
#[derive(Clone, Debug, Default)]
pub struct DirectoryCache {
    agencies: HashMap<AgencyId, (AgencyState, u64)>,
    members: HashMap<MemberId, (MemberState, u64)>,
}

impl DirectoryCache {
    /// Folds one directory event at its stream version (other events are ignored).
    pub fn apply(&mut self, event: &Event, stream_version: u64) {
        match event {
            Event::AgencyRegistered(e) => {
                let entry = self.agencies.entry(e.agency_id).or_default();
                entry.0.evolve(event);
                entry.1 = stream_version;
            }
            Event::MemberEnrolled(kasane_domain::events::MemberEnrolled { member_id, .. })
            | Event::MemberSuspended(kasane_domain::events::MemberSuspended {
                member_id, ..
            })
            | Event::MemberReinstated(kasane_domain::events::MemberReinstated { member_id }) => {
                let entry = self.members.entry(*member_id).or_default();
                entry.0.evolve(event);
                entry.1 = stream_version;
            }
            _ => {}
        }
    }

    /// Sets an agency's state and stream version (when loading from a read model).
    pub fn put_agency(&mut self, id: AgencyId, state: AgencyState, version: u64) {
        self.agencies.insert(id, (state, version));
    }

    /// Sets a member's state and stream version (when loading from a read model).
    pub fn put_member(&mut self, id: MemberId, state: MemberState, version: u64) {
        self.members.insert(id, (state, version));
    }

    /// The agency's state and stream version (default/0 when unknown).
    pub fn agency_state(&self, id: AgencyId) -> (AgencyState, u64) {
        self.agencies.get(&id).cloned().unwrap_or_default()
    }

    /// The member's state and stream version (default/0 when unknown).
    pub fn member_state(&self, id: MemberId) -> (MemberState, u64) {
        self.members.get(&id).cloned().unwrap_or_default()
    }

    /// Every enrolled member, for listings.
    pub fn members(&self) -> impl Iterator<Item = MemberFacts> + '_ {
        self.members.keys().filter_map(|id| self.member(*id))
    }
}

impl Directory for DirectoryCache {
    fn member(&self, id: MemberId) -> Option<MemberFacts> {
        let (state, _) = self.members.get(&id)?;
        let e = state.enrolled.as_ref()?;
        Some(MemberFacts {
            member_id: e.member_id,
            agency_id: e.agency_id,
            profession: e.profession,
            roles: e.roles.clone(),
            active: !state.suspended,
        })
    }

    fn agency(&self, id: AgencyId) -> Option<AgencyFacts> {
        let (state, _) = self.agencies.get(&id)?;
        let e = state.registered.as_ref()?;
        Some(AgencyFacts {
            agency_id: e.agency_id,
            name: e.name.clone(),
            kind: e.kind,
        })
    }
}
