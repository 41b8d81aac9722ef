//! What a decision may know besides the aggregate's own state: who acts, when, and the directory.
//! The caller loads these (I/O at the edge); `decide` only reads them.

use crate::ids::{AgencyId, MemberId};
use crate::vocab::{AgencyKind, Profession, Role};
use chrono::{DateTime, Utc};

/// Directory facts about an agency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgencyFacts {
    pub agency_id: AgencyId,
    pub name: String,
    pub kind: AgencyKind,
}

/// Directory facts about a member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberFacts {
    pub member_id: MemberId,
    pub agency_id: AgencyId,
    pub profession: Profession,
    pub roles: Vec<Role>,
    pub active: bool,
}

impl MemberFacts {
    /// True when the member holds `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// Read-only lookups into the agency/member directory.
pub trait Directory {
    /// The member, if enrolled.
    fn member(&self, id: MemberId) -> Option<MemberFacts>;
    /// The agency, if registered.
    fn agency(&self, id: AgencyId) -> Option<AgencyFacts>;
}

/// The member issuing a command, with their agency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub member: MemberFacts,
    pub agency: AgencyFacts,
}

impl Actor {
    /// Resolves a member id into an actor, if the member and their agency are known.
    pub fn resolve(directory: &dyn Directory, member_id: MemberId) -> Option<Actor> {
        let member = directory.member(member_id)?;
        let agency = directory.agency(member.agency_id)?;
        Some(Actor { member, agency })
    }
    /// The acting member's id.
    pub fn member_id(&self) -> MemberId {
        self.member.member_id
    }
    /// The acting member's agency id.
    pub fn agency_id(&self) -> AgencyId {
        self.member.agency_id
    }
}

/// Everything besides state that a case-file decision reads.
pub struct Context<'a> {
    /// The instant of the decision (the caller's clock, passed in).
    pub now: DateTime<Utc>,
    pub actor: &'a Actor,
    pub directory: &'a dyn Directory,
}

/// Who issues a directory command: an operator at the console (bootstrap) or a member.
#[derive(Clone, Debug)]
pub enum Principal {
    /// The operator running `kasane` locally (creating the first agencies and admins).
    Operator,
    /// A signed-in member.
    Member(Actor),
}
