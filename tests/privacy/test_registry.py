"""The personal-data registry covers every table that refers to users (or says why not)."""

from __future__ import annotations

import uuid

from sqlalchemy import Column, ForeignKey, MetaData, String, Table, Uuid

from fastapp.app import build_registry, metadata
from fastapp.platform.privacy import ExportedData, PersonalData
from fastapp.platform.registry import Registry
from fastapp.privacy.registry import coverage_problems


def test_every_table_with_a_user_reference_is_registered_or_exempt() -> None:
    assert coverage_problems(build_registry(), metadata()) == []


def test_every_domain_registers_its_personal_data() -> None:
    registry = build_registry()
    assert {"accounts", "profile", "audit", "notifications", "email", "files", "jobs", "privacy"} <= set(
        registry.personal_data
    )
    for source in registry.personal_data.values():
        assert source.description and source.legal_basis and source.retention and source.tables, source.key
    accounts = registry.personal_data["accounts"]
    assert accounts.erase_order == max(source.erase_order for source in registry.personal_data.values())


def _copy(registry: Registry) -> MetaData:
    """The app's tables plus two the registry has not been told about."""
    extra = MetaData()
    for table in metadata().sorted_tables:
        table.to_metadata(extra)
    Table("pets", extra, Column("id", Uuid, primary_key=True), Column("keeper", Uuid, ForeignKey("users.id")))
    Table("notes", extra, Column("id", Uuid, primary_key=True), Column("owner_id", String(36)))
    Table("colours", extra, Column("id", Uuid, primary_key=True), Column("name", String(20)))
    return extra


def test_the_check_catches_a_table_it_was_not_told_about() -> None:
    registry = build_registry()
    problems = coverage_problems(registry, _copy(registry))
    assert len(problems) == 2
    assert "table 'notes' refers to users" in problems[0]
    assert "table 'pets' refers to users" in problems[1]

    registry.personal_data_exempt["pets"] = "Pets are not people."
    registry.personal_data_exempt["notes"] = " "
    registry.personal_data_exempt["gone"] = "A table that was dropped."

    async def export(_ctx: object, _user: uuid.UUID) -> ExportedData:
        raise AssertionError("not called")

    async def erase(_ctx: object, _subject: object) -> int:
        raise AssertionError("not called")

    registry.add_personal_data(
        PersonalData(
            key="typo",
            label="Typo",
            description="d",
            legal_basis="b",
            retention="r",
            tables=("file_usages",),
            export=export,  # type: ignore[arg-type]
            erase=erase,  # type: ignore[arg-type]
        )
    )
    assert coverage_problems(registry, _copy(registry)) == [
        "personal data 'typo' names a table that does not exist: file_usages",
        "the exemption of 'gone' names a table that does not exist",
        "the exemption of 'notes' gives no reason",
    ]
