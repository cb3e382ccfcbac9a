//! Tenant and project members: `/tenants/{id}/members` and `/projects/{id}/members`.

use super::common::{AppRef, Created, R, Removed};
use super::gate::Auth;
use super::objects::*;
use crate::domain::Role;
use crate::error::AppError;
use crate::services::App;
use crate::services::access::{MemberChange, MemberOf};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{OpenApi, Tags};

#[derive(Tags)]
enum Tag {
    /// Who may do what in a tenant or project: viewer < developer < maintainer
    Members,
}

pub struct MembersApi;

fn role(s: &str) -> Result<Role, AppError> {
    Role::parse(s).map_err(AppError::BadRequest)
}

/// The user an add request names, by id or by email.
fn user_of(
    app: &App,
    auth: &Auth,
    target: MemberOf,
    b: &AddMemberRequest,
) -> Result<u64, AppError> {
    match (b.user_id, b.email.as_ref()) {
        (Some(id), None) => Ok(id),
        (None, Some(e)) => app
            .tenancy
            .member_user_by_email(auth.identity(), target, &e.0)
            .map(u64::from),
        _ => Err(AppError::BadRequest(
            "Give either user_id or email of the user to add".into(),
        )),
    }
}

fn list(app: &App, auth: &Auth, target: MemberOf) -> R<Json<MembersEnvelope>> {
    let members: Vec<MemberObj> = app
        .tenancy
        .list_members(auth.identity(), target)?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(MembersEnvelope {
        count: members.len(),
        members,
    }))
}

fn change(
    app: &App,
    auth: &Auth,
    target: MemberOf,
    user_id: u64,
    c: MemberChange,
) -> Result<Option<MemberObj>, AppError> {
    crate::store::run_blocking(|| {
        app.tenancy
            .change_member(auth.identity(), target, user_id.into(), c)
    })
    .map(|m| m.map(Into::into))
}

fn member(m: Option<MemberObj>) -> R<MemberObj> {
    m.ok_or_else(|| AppError::Internal("member change returned nothing".into()).into())
}

#[OpenApi(tag = "Tag::Members")]
impl MembersApi {
    /// Members of a tenant (any member of it or of its projects may look).
    #[oai(path = "/tenants/:id/members", method = "get")]
    async fn tenant_list(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
    ) -> R<Json<MembersEnvelope>> {
        list(&app, &auth, MemberOf::Tenant(id.0.into()))
    }

    /// Add a member to a tenant: maintainers add viewers and developers, admins anyone.
    #[oai(path = "/tenants/:id/members", method = "post")]
    async fn tenant_add(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        body: Json<AddMemberRequest>,
    ) -> R<Created<MemberEnvelope>> {
        let b = body.0;
        let m = change(
            &app,
            &auth,
            MemberOf::Tenant(id.0.into()),
            user_of(&app, &auth, MemberOf::Tenant(id.0.into()), &b)?,
            MemberChange::Add(role(&b.role.0)?),
        )?;
        Ok(Created::Created(Json(MemberEnvelope {
            member: member(m)?,
        })))
    }

    /// Change a tenant member's role.
    #[oai(path = "/tenants/:id/members/:user_id", method = "patch")]
    async fn tenant_set(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        user_id: Path<u64>,
        body: Json<SetMemberRequest>,
    ) -> R<Json<MemberEnvelope>> {
        let m = change(
            &app,
            &auth,
            MemberOf::Tenant(id.0.into()),
            user_id.0,
            MemberChange::Set(role(&body.0.role.0)?),
        )?;
        Ok(Json(MemberEnvelope { member: member(m)? }))
    }

    /// Remove a member from a tenant.
    #[oai(path = "/tenants/:id/members/:user_id", method = "delete")]
    async fn tenant_remove(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        user_id: Path<u64>,
    ) -> R<Removed> {
        change(
            &app,
            &auth,
            MemberOf::Tenant(id.0.into()),
            user_id.0,
            MemberChange::Remove,
        )?;
        Ok(Removed::NoContent)
    }

    /// Members of a project (its own members; tenant members are listed on the tenant).
    #[oai(path = "/projects/:id/members", method = "get")]
    async fn project_list(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
    ) -> R<Json<MembersEnvelope>> {
        list(&app, &auth, MemberOf::Project(id.0.into()))
    }

    /// Add a member to a project: maintainers add viewers and developers, admins anyone.
    #[oai(path = "/projects/:id/members", method = "post")]
    async fn project_add(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        body: Json<AddMemberRequest>,
    ) -> R<Created<MemberEnvelope>> {
        let b = body.0;
        let m = change(
            &app,
            &auth,
            MemberOf::Project(id.0.into()),
            user_of(&app, &auth, MemberOf::Project(id.0.into()), &b)?,
            MemberChange::Add(role(&b.role.0)?),
        )?;
        Ok(Created::Created(Json(MemberEnvelope {
            member: member(m)?,
        })))
    }

    /// Change a project member's role.
    #[oai(path = "/projects/:id/members/:user_id", method = "patch")]
    async fn project_set(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        user_id: Path<u64>,
        body: Json<SetMemberRequest>,
    ) -> R<Json<MemberEnvelope>> {
        let m = change(
            &app,
            &auth,
            MemberOf::Project(id.0.into()),
            user_id.0,
            MemberChange::Set(role(&body.0.role.0)?),
        )?;
        Ok(Json(MemberEnvelope { member: member(m)? }))
    }

    /// Remove a member from a project.
    #[oai(path = "/projects/:id/members/:user_id", method = "delete")]
    async fn project_remove(
        &self,
        app: AppRef<'_>,
        auth: Auth,
        id: Path<u64>,
        user_id: Path<u64>,
    ) -> R<Removed> {
        change(
            &app,
            &auth,
            MemberOf::Project(id.0.into()),
            user_id.0,
            MemberChange::Remove,
        )?;
        Ok(Removed::NoContent)
    }
}
