//! The agency and member directory: commands, state and decisions for `agency-*` and `member-*`.

use crate::context::{Directory, Principal};
use crate::error::{DomainError, ErrorCode, refuse};
use crate::events::*;
use crate::ids::{AgencyId, MemberId};
use crate::personal::Personal;
use crate::vocab::{AgencyKind, Profession, Role};

/// A command about an agency's directory entry.
#[derive(Clone, Debug)]
pub enum AgencyCommand {
    Register {
        agency_id: AgencyId,
        name: String,
        kind: AgencyKind,
    },
}

/// A command about a member's directory entry.
#[derive(Clone, Debug)]
pub enum MemberCommand {
    Enrol {
        member_id: MemberId,
        agency_id: AgencyId,
        name: String,
        kana: String,
        profession: Profession,
        roles: Vec<Role>,
    },
    Suspend {
        member_id: MemberId,
        reason: String,
    },
    Reinstate {
        member_id: MemberId,
    },
}

/// The state of one agency stream.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AgencyState {
    pub registered: Option<AgencyRegistered>,
}

/// The state of one member stream.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemberState {
    pub enrolled: Option<MemberEnrolled>,
    pub suspended: bool,
}

impl AgencyState {
    /// Folds one event of the agency stream.
    pub fn evolve(&mut self, event: &Event) {
        if let Event::AgencyRegistered(e) = event {
            self.registered = Some(e.clone());
        }
    }
}

impl MemberState {
    /// Folds one event of the member stream.
    pub fn evolve(&mut self, event: &Event) {
        match event {
            Event::MemberEnrolled(e) => self.enrolled = Some(e.clone()),
            Event::MemberSuspended(_) => self.suspended = true,
            Event::MemberReinstated(_) => self.suspended = false,
            _ => {}
        }
    }
}

fn require_active(principal: &Principal) -> Result<(), DomainError> {
    match principal {
        Principal::Member(actor) if !actor.member.active => refuse(
            ErrorCode::MemberInactive,
            "your membership is suspended: ask your agency administrator to reinstate you",
        ),
        _ => Ok(()),
    }
}

fn require_text(value: &str, what: &str) -> Result<(), DomainError> {
    if value.trim().is_empty() {
        return Err(DomainError::invalid_input(format!(
            "{what} must not be empty"
        )));
    }
    Ok(())
}

/// Decides an agency command.
pub fn decide_agency(
    state: &AgencyState,
    command: &AgencyCommand,
    principal: &Principal,
) -> Result<Vec<Event>, DomainError> {
    require_active(principal)?;
    match command {
        AgencyCommand::Register {
            agency_id,
            name,
            kind,
        } => {
            if let Principal::Member(actor) = principal
                && !actor.member.has_role(Role::CenterAdmin)
            {
                return refuse(
                    ErrorCode::RoleRequired,
                    "registering an agency needs the center_admin role: ask your center administrator",
                );
            }
            if state.registered.is_some() {
                return refuse(
                    ErrorCode::AgencyExists,
                    format!("agency {agency_id} is already registered: use a new id"),
                );
            }
            require_text(name, "the agency name")?;
            Ok(vec![
                AgencyRegistered {
                    agency_id: *agency_id,
                    name: name.trim().to_owned(),
                    kind: *kind,
                }
                .into(),
            ])
        }
    }
}

/// May this principal administer members of `agency`?
fn may_administer(principal: &Principal, agency: AgencyId) -> Result<(), DomainError> {
    match principal {
        Principal::Operator => Ok(()),
        Principal::Member(actor) if actor.member.has_role(Role::CenterAdmin) => Ok(()),
        Principal::Member(actor) if actor.member.has_role(Role::AgencyAdmin) => {
            if actor.agency_id() == agency {
                Ok(())
            } else {
                refuse(
                    ErrorCode::NotOwnAgency,
                    "agency administrators manage members of their own agency only: ask that agency's administrator",
                )
            }
        }
        Principal::Member(_) => refuse(
            ErrorCode::RoleRequired,
            "managing members needs the agency_admin role: ask your agency administrator",
        ),
    }
}

/// Decides a member command; the directory answers whether the target agency exists.
pub fn decide_member(
    state: &MemberState,
    command: &MemberCommand,
    principal: &Principal,
    directory: &dyn Directory,
) -> Result<Vec<Event>, DomainError> {
    require_active(principal)?;
    match command {
        MemberCommand::Enrol {
            member_id,
            agency_id,
            name,
            kana,
            profession,
            roles,
        } => {
            may_administer(principal, *agency_id)?;
            if state.enrolled.is_some() {
                return refuse(
                    ErrorCode::MemberExists,
                    format!("member {member_id} is already enrolled: use a new id"),
                );
            }
            if directory.agency(*agency_id).is_none() {
                return refuse(
                    ErrorCode::AgencyNotFound,
                    format!("agency {agency_id} is not registered: register it first"),
                );
            }
            require_text(name, "the member's name")?;
            require_text(kana, "the member's kana reading")?;
            if roles.is_empty() {
                return Err(DomainError::invalid_input(
                    "a member needs at least one role (supporter, agency_admin, center_admin, auditor)",
                ));
            }
            let mut roles = roles.clone();
            roles.sort();
            roles.dedup();
            Ok(vec![
                MemberEnrolled {
                    member_id: *member_id,
                    agency_id: *agency_id,
                    name: Personal::Known(name.trim().to_owned()),
                    kana: Personal::Known(kana.trim().to_owned()),
                    profession: *profession,
                    roles,
                }
                .into(),
            ])
        }
        MemberCommand::Suspend { member_id, reason } => {
            let enrolled = known_member(state, *member_id)?;
            may_administer(principal, enrolled.agency_id)?;
            if state.suspended {
                return refuse(
                    ErrorCode::MemberAlreadySuspended,
                    "this member is already suspended: nothing to do",
                );
            }
            if reason.trim().is_empty() {
                return refuse(ErrorCode::ReasonRequired, "say why the member is suspended");
            }
            Ok(vec![
                MemberSuspended {
                    member_id: *member_id,
                    reason: reason.trim().to_owned(),
                }
                .into(),
            ])
        }
        MemberCommand::Reinstate { member_id } => {
            let enrolled = known_member(state, *member_id)?;
            may_administer(principal, enrolled.agency_id)?;
            if !state.suspended {
                return refuse(
                    ErrorCode::MemberNotSuspended,
                    "this member is not suspended: nothing to reinstate",
                );
            }
            Ok(vec![
                MemberReinstated {
                    member_id: *member_id,
                }
                .into(),
            ])
        }
    }
}

fn known_member(state: &MemberState, id: MemberId) -> Result<&MemberEnrolled, DomainError> {
    state.enrolled.as_ref().ok_or_else(|| {
        DomainError::new(
            ErrorCode::MemberNotFound,
            format!("member {id} is not enrolled: check the id"),
        )
    })
}
