"""Today's Vers routes for names that point at commits and VMs (mounted under `/api/v1`): org commit
tags (`/commit_tags`), published commits (`/commits/public`), repositories with their tags and
visibility, the public listing and fork, and domains.

The engine is one organisation, `catalog.ORG_NAME`; a tag or repository tag must point at one of its
commits. Plain `def` routes: their SQLite writes run in FastAPI's threadpool, off the event loop.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from vmtui.core.errors import ProviderError
from vmtui.local.api.deps import EngineDep
from vmtui.local.api.schemas import (
    CommitOut,
    CommitsPage,
    DomainIdOut,
    DomainIn,
    DomainOut,
    ForkIn,
    ForkOut,
    PublicRepositoriesOut,
    PublicRepositoryOut,
    RepositoriesOut,
    RepositoryCreatedOut,
    RepositoryIn,
    RepositoryOut,
    RepoTagCreatedOut,
    RepoTagOut,
    RepoTagsOut,
    TagCreatedOut,
    TagIn,
    TagOut,
    TagPatchIn,
    TagsOut,
    VisibilityIn,
)
from vmtui.local.catalog import UNSET

router = APIRouter()
_PAGE = 500


# -- org commit tags -------------------------------------------------------------------------------


@router.post("/commit_tags", status_code=201)
def create_tag(engine: EngineDep, body: TagIn) -> TagCreatedOut:
    engine.get_commit(body.commit_id)
    tag = engine.catalog.create_tag(body.tag_name, body.commit_id, body.description)
    return TagCreatedOut(tag_id=tag.tag_id, tag_name=tag.tag_name, commit_id=tag.commit_id)


@router.get("/commit_tags")
def list_tags(engine: EngineDep) -> TagsOut:
    return TagsOut(tags=[TagOut.of(tag) for tag in engine.catalog.list_tags()])


@router.get("/commit_tags/{tag_name}")
def get_tag(engine: EngineDep, tag_name: str) -> TagOut:
    return TagOut.of(engine.catalog.get_tag(tag_name))


@router.patch("/commit_tags/{tag_name}")
def update_tag(engine: EngineDep, tag_name: str, body: TagPatchIn) -> TagOut:
    if body.commit_id is not None:
        engine.get_commit(body.commit_id)
    description = body.description if "description" in body.model_fields_set else UNSET
    return TagOut.of(engine.catalog.update_tag(tag_name, commit_id=body.commit_id, description=description))


@router.delete("/commit_tags/{tag_name}", status_code=204, response_class=Response)
def delete_tag(engine: EngineDep, tag_name: str) -> Response:
    engine.catalog.delete_tag(tag_name)
    return Response(status_code=204)


@router.get("/commits/public")
def list_public_commits(engine: EngineDep) -> CommitsPage:
    """The engine's commits published with `PATCH /commits/{id}` `{"is_public": true}`, newest first."""
    public = []
    offset = 0
    while True:
        page, total = engine.list_commits(limit=_PAGE, offset=offset)
        public += [commit for commit in page if commit.is_public]
        offset += len(page)
        if not page or offset >= total:
            break
    commits = [CommitOut.of(engine, commit) for commit in public]
    return CommitsPage(commits=commits, total=len(commits), limit=len(commits), offset=0)


# -- repositories ----------------------------------------------------------------------------------


@router.post("/repositories", status_code=201)
def create_repository(engine: EngineDep, body: RepositoryIn) -> RepositoryCreatedOut:
    repo = engine.catalog.create_repo(body.name, body.description)
    return RepositoryCreatedOut(repo_id=repo.repo_id, name=repo.name)


@router.get("/repositories")
def list_repositories(engine: EngineDep) -> RepositoriesOut:
    return RepositoriesOut(repositories=[RepositoryOut.of(repo) for repo in engine.catalog.list_repos()])


@router.get("/repositories/{repo_name}")
def get_repository(engine: EngineDep, repo_name: str) -> RepositoryOut:
    return RepositoryOut.of(engine.catalog.get_repo(repo_name))


@router.delete("/repositories/{repo_name}", status_code=204, response_class=Response)
def delete_repository(engine: EngineDep, repo_name: str) -> Response:
    engine.catalog.delete_repo(repo_name)
    return Response(status_code=204)


@router.patch("/repositories/{repo_name}/visibility", status_code=204, response_class=Response)
def set_repository_visibility(engine: EngineDep, repo_name: str, body: VisibilityIn) -> Response:
    engine.catalog.set_visibility(repo_name, body.is_public)
    return Response(status_code=204)


@router.post("/repositories/{repo_name}/tags", status_code=201)
def create_repo_tag(engine: EngineDep, repo_name: str, body: TagIn) -> RepoTagCreatedOut:
    engine.get_commit(body.commit_id)
    tag = engine.catalog.create_repo_tag(repo_name, body.tag_name, body.commit_id, body.description)
    return RepoTagCreatedOut(
        tag_id=tag.tag_id, commit_id=tag.commit_id, reference=f"{repo_name}:{tag.tag_name}"
    )


@router.get("/repositories/{repo_name}/tags")
def list_repo_tags(engine: EngineDep, repo_name: str) -> RepoTagsOut:
    repo = engine.catalog.get_repo(repo_name)
    tags = [RepoTagOut.in_repo(repo, tag) for tag in engine.catalog.list_repo_tags(repo)]
    return RepoTagsOut(repository=repo.name, tags=tags)


@router.get("/repositories/{repo_name}/tags/{tag_name}")
def get_repo_tag(engine: EngineDep, repo_name: str, tag_name: str) -> RepoTagOut:
    repo = engine.catalog.get_repo(repo_name)
    return RepoTagOut.in_repo(repo, engine.catalog.get_repo_tag(repo, tag_name))


@router.patch("/repositories/{repo_name}/tags/{tag_name}")
def update_repo_tag(engine: EngineDep, repo_name: str, tag_name: str, body: TagPatchIn) -> RepoTagOut:
    if body.commit_id is not None:
        engine.get_commit(body.commit_id)
    description = body.description if "description" in body.model_fields_set else UNSET
    tag = engine.catalog.update_repo_tag(
        repo_name, tag_name, commit_id=body.commit_id, description=description
    )
    return RepoTagOut.in_repo(engine.catalog.get_repo(repo_name), tag)


@router.delete("/repositories/{repo_name}/tags/{tag_name}", status_code=204, response_class=Response)
def delete_repo_tag(engine: EngineDep, repo_name: str, tag_name: str) -> Response:
    engine.catalog.delete_repo_tag(repo_name, tag_name)
    return Response(status_code=204)


# -- the public listing and fork ---------------------------------------------------------------------


@router.get("/public/repositories")
def list_public_repositories(engine: EngineDep) -> PublicRepositoriesOut:
    repos = engine.catalog.list_repos(public_only=True)
    return PublicRepositoriesOut(repositories=[PublicRepositoryOut.of(repo) for repo in repos])


@router.get("/public/repositories/{org_name}/{repo_name}")
def get_public_repository(engine: EngineDep, org_name: str, repo_name: str) -> PublicRepositoryOut:
    return PublicRepositoryOut.of(engine.catalog.get_public_repo(org_name, repo_name))


@router.get("/public/repositories/{org_name}/{repo_name}/tags")
def list_public_repo_tags(engine: EngineDep, org_name: str, repo_name: str) -> RepoTagsOut:
    repo = engine.catalog.get_public_repo(org_name, repo_name)
    tags = [RepoTagOut.in_repo(repo, tag) for tag in engine.catalog.list_repo_tags(repo)]
    return RepoTagsOut(repository=repo.name, tags=tags)


@router.get("/public/repositories/{org_name}/{repo_name}/tags/{tag_name}")
def get_public_repo_tag(engine: EngineDep, org_name: str, repo_name: str, tag_name: str) -> RepoTagOut:
    repo = engine.catalog.get_public_repo(org_name, repo_name)
    return RepoTagOut.in_repo(repo, engine.catalog.get_repo_tag(repo, tag_name))


@router.post("/repositories/fork", status_code=201)
async def fork_repository(engine: EngineDep, body: ForkIn) -> ForkOut:
    """A VM from the public tag's commit, committed at once into a new repository of this org: the
    repository, the VM and the commit all stay (or, on failure, none of them)."""
    catalog = engine.catalog
    source = catalog.get_public_repo(body.source_org, body.source_repo)
    commit_id = catalog.get_repo_tag(source, body.source_tag).commit_id
    repo = catalog.create_repo(body.repo_name or body.source_repo, source.description)
    tag_name = body.tag_name or body.source_tag
    vm = None
    try:
        vm = await engine.from_commit(commit_id)
        commit = await engine.commit_vm(vm.id, name=f"{repo.name}:{tag_name}")
        catalog.create_repo_tag(repo.name, tag_name, commit.id, None)
    except BaseException:
        catalog.delete_repo(repo.name)
        if vm is not None:
            try:
                await engine.delete_vm(vm.id)
            except ProviderError:
                pass  # the original failure is what the caller needs to see
        raise
    return ForkOut(
        vm_id=vm.id,
        commit_id=commit.id,
        repo_name=repo.name,
        tag_name=tag_name,
        reference=f"{repo.name}:{tag_name}",
    )


# -- domains -----------------------------------------------------------------------------------------


@router.post("/domains", status_code=201)
def create_domain(engine: EngineDep, body: DomainIn) -> DomainOut:
    engine.get_vm(body.vm_id)
    return DomainOut.of(engine.catalog.create_domain(body.domain, body.vm_id))


@router.get("/domains")
def list_domains(engine: EngineDep, vm_id: str | None = None) -> list[DomainOut]:
    return [DomainOut.of(domain) for domain in engine.catalog.list_domains(vm_id)]


@router.get("/domains/{domain_id}")
def get_domain(engine: EngineDep, domain_id: str) -> DomainOut:
    return DomainOut.of(engine.catalog.get_domain(domain_id))


@router.delete("/domains/{domain_id}")
def delete_domain(engine: EngineDep, domain_id: str) -> DomainIdOut:
    engine.catalog.delete_domain(domain_id)
    return DomainIdOut(domain_id=domain_id)
