"""Audiences and stakeholders: the services, the CSV import and the pages."""

import io
import re

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import include, path, reverse
from django.utils import timezone

from comms import services
from comms.models import Audience, Membership, Stakeholder
from rollouts.models import ReleaseStatus
from tests.factories import (
    AudienceFactory,
    MessageFactory,
    ReleaseFactory,
    StakeholderFactory,
)

# The pages until config/urls.py includes them; listed first, so they win over that
# include once it exists and these tests keep meaning the same thing.
urlpatterns = [
    path("comms/", include("comms.urls")),
    path("u/", include("comms.urls_public")),
    path("", include("config.urls")),
]
pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


def csv_file(text: str | bytes, name: str = "people.csv") -> SimpleUploadedFile:
    data = text.encode() if isinstance(text, str) else text
    return SimpleUploadedFile(name, data, content_type="text/csv")


def run_import(text, *, actor=None, **kwargs) -> services.ImportReport:
    return services.stakeholders_import_csv(csv_file(text), actor=actor, **kwargs)


def reasons(report) -> dict[int, str]:
    return {e.line: e.reason for e in report.errors}


def memberships_of(email: str) -> set[str]:
    return set(Membership.objects.filter(stakeholder__email__iexact=email).values_list("audience__name", flat=True))


@pytest.fixture
def customers():
    return AudienceFactory(name="Customers")


@pytest.fixture
def support_audience():
    return AudienceFactory(name="Support")


# --- CSV import: good rows ----------------------------------------------------------------


def test_import__good_rows__creates_stakeholders_with_their_audiences(customers, support_audience):
    # Given a file with audiences written in any letter case
    text = (
        "email,name,organisation,audiences\n"
        "ana@example.com,Ana Lima,Acme,Customers\n"
        "ben@example.com,Ben Okafor,Acme,support; CUSTOMERS\n"
        "cleo@example.org,,,\n"
    )
    # When it is imported
    report = run_import(text)
    # Then everyone is there, with their audiences
    assert (report.created, report.updated, report.unchanged, report.errors) == (3, 0, 0, [])
    assert Stakeholder.objects.count() == 3
    assert memberships_of("ben@example.com") == {"Customers", "Support"}
    assert memberships_of("cleo@example.org") == set()
    ana = Stakeholder.objects.get(email="ana@example.com")
    assert (ana.name, ana.organisation) == ("Ana Lima", "Acme")


def test_import__bom_semicolons_and_header_aliases__read(customers):
    text = "\ufeffE-mail;Name;Organization;Audience\nana@example.com;Ana;Acme;Customers\n"
    report = run_import(text)
    assert report.created == 1
    assert Stakeholder.objects.get().organisation == "Acme"
    assert memberships_of("ana@example.com") == {"Customers"}


def test_import__unknown_columns__ignored_and_reported():
    report = run_import("email,phone\nana@example.com,+44 20\n")
    assert report.created == 1
    assert report.ignored_columns == ["phone"]


def test_import__default_audiences__added_to_every_good_row(customers, support_audience):
    report = run_import(
        "email,audiences\nana@example.com,Support\nben@example.com,\n", default_audiences=[customers.pk]
    )
    assert report.created == 2
    assert memberships_of("ana@example.com") == {"Customers", "Support"}
    assert memberships_of("ben@example.com") == {"Customers"}


# --- CSV import: bad rows -----------------------------------------------------------------


def test_import__bad_email__row_listed_and_the_others_imported():
    report = run_import("email,name\nana@example.com,Ana\nnot-an-email,Bob\nana@@example.com,Al\n")
    assert report.created == 1
    assert set(reasons(report)) == {3, 4}
    assert "Not a valid email address: “not-an-email”" in reasons(report)[3]
    assert Stakeholder.objects.get().email == "ana@example.com"


def test_import__missing_email_value__row_listed():
    report = run_import("email,name\n,Nobody\nana@example.com,Ana\n")
    assert reasons(report) == {2: "Missing email."}
    assert report.created == 1


def test_import__duplicate_within_the_file_in_other_case__later_row_listed():
    report = run_import("email,name\nana@example.com,Ana\nben@example.com,Ben\nANA@Example.COM,Ana again\n")
    assert report.created == 2
    assert reasons(report) == {4: "Duplicate: the same email is on line 2."}
    assert Stakeholder.objects.get(email__iexact="ana@example.com").name == "Ana"


def test_import__unknown_audience__row_listed_and_no_audience_created(customers):
    report = run_import("email,audiences\nana@example.com,Customers\nben@example.com,Customers;Partners\n")
    assert report.created == 1
    assert "Unknown audience “Partners”" in reasons(report)[3]
    assert not Audience.objects.filter(name="Partners").exists()
    assert not Stakeholder.objects.filter(email="ben@example.com").exists()


def test_import__unknown_audience_with_create_missing__audience_created_once(customers):
    text = "email,audiences\nana@example.com,Partners\nben@example.com,partners;Customers\n"
    report = run_import(text, create_missing_audiences=True)
    assert report.created == 2
    assert report.audiences_created == ["Partners"]
    assert Audience.objects.filter(name__iexact="partners").count() == 1
    assert memberships_of("ben@example.com") == {"Customers", "Partners"}


def test_import__create_missing_but_only_bad_rows_name_it__audience_not_created():
    report = run_import("email,audiences\nnot-an-email,Partners\n", create_missing_audiences=True)
    assert report.created == 0
    assert not Audience.objects.exists()


def test_import__missing_column_in_a_row__row_listed():
    report = run_import("email,name,organisation\nana@example.com,Ana\nben@example.com,Ben,Acme\n")
    assert report.created == 1
    assert reasons(report)[2].startswith("Missing column: the row has 2 values but the header has 3.")


def test_import__too_many_values__row_listed_but_trailing_empty_values_are_fine():
    report = run_import("email,name\nana@example.com,Lima, Ana\nben@example.com,Ben,,\n")
    assert report.created == 1
    assert reasons(report)[2].startswith("Too many values: 3 for 2 columns.")
    assert Stakeholder.objects.get().email == "ben@example.com"


def test_import__line_break_in_a_quoted_name__row_listed_with_its_first_line():
    report = run_import('email,name\n"ana@example.com","Ana\nBcc: evil@example.com"\nben@example.com,Ben\n')
    assert report.created == 1
    assert reasons(report) == {2: "Name contains a line break or another control character."}


def test_import__several_problems_in_one_row__all_listed():
    report = run_import(f"email,name\nnope,{'x' * 201}\n")
    assert "Not a valid email address" in reasons(report)[2]
    assert "Name is longer than 200 characters." in reasons(report)[2]


# --- CSV import: files that cannot be read at all ------------------------------------------


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01" + bytes(range(256))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (PNG, "This is not a CSV text file"),
        (b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00", "This is not a CSV text file"),  # an .xlsx
        ("email,name\nana@example.com,José\n".encode("utf-16"), "This is not a CSV text file"),
        ("email,name\nana@example.com,Zoë\nben@example.com,Bérénice\n".encode("latin-1"), "not UTF-8 text"),
        (b"name,organisation\nAna,Acme\n", "The header has no “email” column."),
        (b"ana@example.com,Ana\nben@example.com,Ben\n", "The first row looks like data, not a header."),
        (b"", "The file is empty."),
        (b"\n \r\n", "The file is empty."),
        (b"email,name\n", "The file has a header but no rows to import."),
        (b"email,email\na@example.com,b@example.com\n", "The header names the column “email” twice."),
    ],
    ids=["png", "xlsx", "utf16", "latin1", "no-email-column", "no-header", "empty", "blank", "header-only", "twice"],
)
def test_import__unreadable_file__nothing_imported_and_one_message(customers, data, message):
    # Given a stakeholder already there, and a file that cannot be read as a whole
    StakeholderFactory(email="old@example.com")
    # When it is imported, even with "create missing audiences"
    with pytest.raises(ValidationError) as caught:
        services.stakeholders_import_csv(csv_file(data), actor=None, create_missing_audiences=True)
    # Then one clear message says why, and nothing changed
    assert list(caught.value.message_dict) == ["file"]
    assert len(caught.value.message_dict["file"]) == 1
    assert message in caught.value.message_dict["file"][0]
    assert list(Stakeholder.objects.values_list("email", flat=True)) == ["old@example.com"]
    assert list(Audience.objects.values_list("name", flat=True)) == ["Customers"]


def test_import__larger_than_2_mb__nothing_imported():
    rows = "".join(f"person{i}@example.com,{'n' * 60}\n" for i in range(40_000))
    data = ("email,name\n" + rows).encode()
    assert len(data) > services.IMPORT_MAX_BYTES
    with pytest.raises(ValidationError, match="larger than 2 MB"):
        services.stakeholders_import_csv(io.BytesIO(data), actor=None)
    assert not Stakeholder.objects.exists()


def test_import__more_than_20000_rows__nothing_imported():
    data = "email\n" + "".join(f"p{i}@ex.io\n" for i in range(services.IMPORT_MAX_ROWS + 1))
    assert len(data.encode()) < services.IMPORT_MAX_BYTES
    with pytest.raises(ValidationError, match="more than 20,000 rows"):
        run_import(data)
    assert not Stakeholder.objects.exists()


def test_import__20000_rows__all_imported_in_one_go():
    data = "email\n" + "".join(f"p{i}@ex.io\n" for i in range(services.IMPORT_MAX_ROWS))
    report = run_import(data)
    assert report.created == services.IMPORT_MAX_ROWS
    assert Stakeholder.objects.count() == services.IMPORT_MAX_ROWS


def test_import__database_fails_half_way__no_row_kept(monkeypatch, customers):
    # Given the write of memberships fails after the stakeholders were inserted
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Membership.objects, "bulk_create", broken)
    # When a good file is imported
    with pytest.raises(RuntimeError):
        run_import("email,audiences\nana@example.com,Customers\n")
    # Then the good rows are not half-imported either
    assert not Stakeholder.objects.exists()


# --- CSV import: importing again ----------------------------------------------------------------


def test_import__same_file_twice__updates_nothing_and_doubles_nothing(customers):
    text = "email,name,audiences\nana@example.com,Ana,Customers\nben@example.com,Ben,\n"
    run_import(text)
    report = run_import(text)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 2)
    assert Stakeholder.objects.count() == 2
    assert Membership.objects.count() == 1


def test_import__known_email_in_other_case__updates_the_stakeholder(customers, support_audience):
    # Given Ana is on file, in Customers
    StakeholderFactory(email="ana@example.com", name="Ana", organisation="Acme", audiences=[customers])
    # When a file names her in capitals with a new name, no organisation and another audience
    report = run_import("email,name,organisation,audiences\nANA@EXAMPLE.COM,Ana Lima,,Support\n")
    # Then she is updated, not doubled; the empty organisation does not wipe hers
    assert (report.created, report.updated) == (0, 1)
    ana = Stakeholder.objects.get()
    assert (ana.email, ana.name, ana.organisation) == ("ana@example.com", "Ana Lima", "Acme")
    assert memberships_of("ana@example.com") == {"Customers", "Support"}


def test_import__opted_out_or_unsubscribed_stakeholder__stays_so(customers):
    # Given Ana opted out of everything, and Ben out of Customers
    ana = StakeholderFactory(email="ana@example.com", audiences=[customers])
    ben = StakeholderFactory(email="ben@example.com", audiences=[customers])
    services.stakeholder_unsubscribe_all(ana.pk, "test")
    Membership.objects.filter(stakeholder=ben).update(unsubscribed_at=timezone.now())
    # When both are imported again into Customers
    report = run_import("email,audiences\nana@example.com,Customers\nben@example.com,Customers\n")
    # Then nobody is signed back up
    assert report.unchanged == 2
    assert report.still_opted_out == 1
    ana.refresh_from_db()
    assert ana.opted_out_at is not None
    assert Membership.objects.get(stakeholder=ben).unsubscribed_at is not None


# --- Services: audiences and stakeholders ----------------------------------------------------------------


def test_audience_create__name_taken_in_other_case__refused(manager, customers):
    with pytest.raises(ValidationError) as caught:
        services.audience_create(actor=manager, name="customers")
    assert caught.value.message_dict == {"name": ["An audience with this name exists."]}


def test_audience_delete__used_by_a_running_release__refused_then_allowed_when_finished(manager, customers):
    release = ReleaseFactory(owner=manager)
    MessageFactory(plan__release=release, name="Heads-up", audiences=[customers])
    with pytest.raises(ValidationError, match="Heads-up"):
        services.audience_delete(audience_id=customers.pk, actor=manager)
    release.status = ReleaseStatus.COMPLETED
    release.save(update_fields=["status"])
    services.audience_delete(audience_id=customers.pk, actor=manager)
    assert not Audience.objects.exists()


def test_stakeholder_create__email_taken_in_other_case__refused(manager):
    StakeholderFactory(email="ana@example.com")
    with pytest.raises(ValidationError) as caught:
        services.stakeholder_create(actor=manager, email="  Ana@EXAMPLE.com ")
    assert caught.value.message_dict == {"email": ["A stakeholder with this email exists."]}


def test_stakeholder_create__domain_lower_cased_and_trimmed(manager):
    stakeholder = services.stakeholder_create(actor=manager, email=" Ana.Lima@Example.COM ")
    assert stakeholder.email == "Ana.Lima@example.com"


def test_stakeholder_set_audiences__unsubscribed_membership__kept_unsubscribed(manager, customers, support_audience):
    # Given Ana unsubscribed from Customers herself
    ana = StakeholderFactory(audiences=[customers, support_audience])
    services.stakeholder_set_preferences(ana.pk, [support_audience.pk])
    # When a manager removes both audiences and then adds Customers back
    services.stakeholder_set_audiences(stakeholder_id=ana.pk, actor=manager, audience_ids=[])
    services.stakeholder_set_audiences(stakeholder_id=ana.pk, actor=manager, audience_ids=[customers.pk])
    # Then Support is gone and Customers is still unsubscribed: only she can change that
    membership = Membership.objects.get(stakeholder=ana)
    assert membership.audience == customers
    assert membership.unsubscribed_at is not None


# --- Pages: who may -------------------------------------------------------------------------


LIST_PAGES = ["comms:audience_list", "comms:stakeholder_list"]
MANAGE_PAGES = ["comms:audience_create", "comms:stakeholder_create", "comms:stakeholder_import"]


@pytest.mark.parametrize("name", LIST_PAGES)
@pytest.mark.parametrize("who", ["manager", "support", "viewer", "approver"])
def test_list_pages__any_role__can_read(client, request, name, who):
    client.force_login(request.getfixturevalue(who))
    assert client.get(reverse(name)).status_code == 200


@pytest.mark.parametrize("name", LIST_PAGES + MANAGE_PAGES)
def test_pages__anonymous__sent_to_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", LIST_PAGES + MANAGE_PAGES)
def test_pages__no_role__forbidden(client, outsider, name):
    client.force_login(outsider)
    assert client.get(reverse(name)).status_code == 403


@pytest.mark.parametrize("name", MANAGE_PAGES)
@pytest.mark.parametrize("who", ["support", "viewer", "approver"])
def test_manage_pages__reader__forbidden_to_look_and_to_post(client, request, name, who):
    client.force_login(request.getfixturevalue(who))
    assert client.get(reverse(name)).status_code == 403
    assert client.post(reverse(name), {"name": "Hackers", "email": "h@example.com"}).status_code == 403
    assert not Audience.objects.exists()
    assert not Stakeholder.objects.exists()


def test_edit_and_delete__reader__forbidden(client, support, customers):
    client.force_login(support)
    stakeholder = StakeholderFactory()
    assert client.post(reverse("comms:audience_delete", args=[customers.pk])).status_code == 403
    assert client.post(reverse("comms:audience_edit", args=[customers.pk]), {"name": "X"}).status_code == 403
    assert client.get(reverse("comms:stakeholder_edit", args=[stakeholder.pk])).status_code == 403
    assert Audience.objects.filter(name="Customers").exists()


def test_list_pages__reader__sees_no_manage_links(client, support, customers):
    client.force_login(support)
    StakeholderFactory(audiences=[customers])
    assert reverse("comms:audience_create") not in client.get(reverse("comms:audience_list")).content.decode()
    html = client.get(reverse("comms:stakeholder_list")).content.decode()
    assert reverse("comms:stakeholder_import") not in html
    assert "/edit/" not in html


# --- Pages: audiences -------------------------------------------------------------------------


def test_audience_create_page__valid__created_and_redirected(manager_client):
    response = manager_client.post(reverse("comms:audience_create"), {"name": "Executives", "description": "C-level"})
    assert response.status_code == 303
    assert response["Location"] == reverse("comms:audience_list")
    assert Audience.objects.get().description == "C-level"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"name": "", "description": "Typed description"}, "This field is required."),
        ({"name": "CUSTOMERS", "description": "Typed description"}, "An audience with this name exists."),
        ({"name": "x" * 121, "description": "Typed description"}, "at most 120 characters"),
    ],
    ids=["empty", "taken", "long"],
)
def test_audience_create_page__bad_input__422_keeps_typed_values(manager_client, customers, data, error):
    response = manager_client.post(reverse("comms:audience_create"), data)
    assert response.status_code == 422
    html = response.content.decode()
    assert error in html
    assert 'value="Typed description"' in html
    assert Audience.objects.count() == 1


def test_audience_edit_page__rename__saved(manager_client, customers):
    url = reverse("comms:audience_edit", args=[customers.pk])
    assert 'value="Customers"' in manager_client.get(url).content.decode()
    response = manager_client.post(url, {"name": "Clients", "description": ""})
    assert response.status_code == 303
    customers.refresh_from_db()
    assert customers.name == "Clients"


def test_audience_delete_page__get_asks_post_deletes(manager_client, customers):
    StakeholderFactory(audiences=[customers])
    url = reverse("comms:audience_delete", args=[customers.pk])
    response = manager_client.get(url)
    assert response.status_code == 200
    assert "1 member" in response.content.decode()
    assert Audience.objects.exists()
    assert manager_client.post(url).status_code == 303
    assert not Audience.objects.exists()
    assert Stakeholder.objects.count() == 1


def test_audience_delete_page__in_use__409_with_reason(manager_client, manager, customers):
    MessageFactory(plan__release=ReleaseFactory(owner=manager), name="Go-live mail", audiences=[customers])
    response = manager_client.post(reverse("comms:audience_delete", args=[customers.pk]))
    assert response.status_code == 409
    assert "Go-live mail" in response.content.decode()
    assert Audience.objects.exists()


def test_audience_pages__unknown_id__404(manager_client):
    assert manager_client.get(reverse("comms:audience_edit", args=[999])).status_code == 404
    assert manager_client.post(reverse("comms:audience_delete", args=[999])).status_code == 404


# --- Pages: stakeholders -------------------------------------------------------------------------


def test_stakeholder_list__search_and_audience_filter(manager_client, customers, support_audience):
    StakeholderFactory(email="ana@acme.com", name="Ana", organisation="Acme", audiences=[customers])
    StakeholderFactory(email="ben@globex.com", name="Ben", organisation="Globex", audiences=[support_audience])
    StakeholderFactory(email="cleo@acme.com", name="Cleo", organisation="Acme", audiences=[support_audience])
    url = reverse("comms:stakeholder_list")

    def emails(params):
        html = manager_client.get(url, params).content.decode()
        return {e for e in ("ana@acme.com", "ben@globex.com", "cleo@acme.com") if e in html}

    assert emails({"q": "ACME"}) == {"ana@acme.com", "cleo@acme.com"}
    assert emails({"q": "ben"}) == {"ben@globex.com"}
    assert emails({"audience": support_audience.pk}) == {"ben@globex.com", "cleo@acme.com"}
    assert emails({"audience": support_audience.pk, "q": "acme"}) == {"cleo@acme.com"}
    assert emails({"audience": "nonsense"}) == {"ana@acme.com", "ben@globex.com", "cleo@acme.com"}


def test_stakeholder_list__htmx__answers_the_results_fragment(manager_client):
    StakeholderFactory(email="ana@acme.com")
    response = manager_client.get(reverse("comms:stakeholder_list"), {"q": "ana"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="stakeholder-results">')
    assert "ana@acme.com" in html
    assert "<html" not in html
    assert "HX-Request" in response["Vary"]


def test_stakeholder_list__paginated(manager_client):
    for i in range(55):
        StakeholderFactory(email=f"p{i:02d}@example.com")
    first = manager_client.get(reverse("comms:stakeholder_list")).content.decode()
    second = manager_client.get(reverse("comms:stakeholder_list"), {"page": 2}).content.decode()
    assert "p00@example.com" in first and "p54@example.com" not in first
    assert "p54@example.com" in second and "Page 2 of 2" in second


def test_stakeholder_list__opted_out_and_unsubscribed__shown(manager_client, customers):
    ana = StakeholderFactory(email="ana@example.com", audiences=[customers])
    services.stakeholder_unsubscribe_all(ana.pk, "test")
    html = manager_client.get(reverse("comms:stakeholder_list")).content.decode()
    assert "Unsubscribed from everything" in html


def test_stakeholder_create_page__valid__created_with_audiences(manager_client, customers, support_audience):
    data = {"email": "ana@example.com", "name": "Ana", "organisation": "Acme", "audiences": [customers.pk]}
    response = manager_client.post(reverse("comms:stakeholder_create"), data)
    assert response.status_code == 303
    assert memberships_of("ana@example.com") == {"Customers"}


@pytest.mark.parametrize(
    ("email", "error"),
    [
        ("ANA@example.com", "A stakeholder with this email exists."),
        ("not an email", "Enter a valid email address."),
        ("", "This field is required."),
    ],
    ids=["taken-other-case", "bad", "empty"],
)
def test_stakeholder_create_page__bad_input__422_keeps_typed_values(manager_client, customers, email, error):
    StakeholderFactory(email="ana@example.com")
    data = {"email": email, "name": "Typed Name", "organisation": "Typed Org", "audiences": [customers.pk]}
    response = manager_client.post(reverse("comms:stakeholder_create"), data)
    assert response.status_code == 422
    html = response.content.decode()
    assert error in html
    assert 'value="Typed Name"' in html and 'value="Typed Org"' in html
    assert re.search(rf'<input type="checkbox" name="audiences" value="{customers.pk}"[^>]* checked>', html)
    assert Stakeholder.objects.count() == 1


def test_stakeholder_create_page__line_break_in_name__422(manager_client):
    data = {"email": "ana@example.com", "name": "Ana\r\nBcc: x@example.com", "organisation": ""}
    response = manager_client.post(reverse("comms:stakeholder_create"), data)
    assert response.status_code == 422
    assert "line break" in response.content.decode()
    assert not Stakeholder.objects.exists()


def test_stakeholder_edit_page__change_details_and_audiences(manager_client, customers, support_audience):
    ana = StakeholderFactory(email="ana@example.com", audiences=[customers])
    url = reverse("comms:stakeholder_edit", args=[ana.pk])
    assert 'value="ana@example.com"' in manager_client.get(url).content.decode()
    data = {"email": "ana.lima@example.com", "name": "Ana Lima", "organisation": "", "audiences": [support_audience.pk]}
    assert manager_client.post(url, data).status_code == 303
    ana.refresh_from_db()
    assert (ana.email, ana.name) == ("ana.lima@example.com", "Ana Lima")
    assert memberships_of("ana.lima@example.com") == {"Support"}


def test_stakeholder_edit_page__email_of_someone_else__422(manager_client):
    StakeholderFactory(email="ben@example.com")
    ana = StakeholderFactory(email="ana@example.com")
    data = {"email": "Ben@example.com", "name": "Typed", "organisation": ""}
    response = manager_client.post(reverse("comms:stakeholder_edit", args=[ana.pk]), data)
    assert response.status_code == 422
    assert 'value="Ben@example.com"' in response.content.decode()
    ana.refresh_from_db()
    assert ana.email == "ana@example.com"


def test_stakeholder_edit_page__opted_out__says_only_they_can_resubscribe(manager_client, customers):
    ana = StakeholderFactory(audiences=[customers])
    services.stakeholder_set_preferences(ana.pk, [])
    html = manager_client.get(reverse("comms:stakeholder_edit", args=[ana.pk])).content.decode()
    assert 'id="opted-out"' in html


def test_stakeholder_edit_page__unknown__404(manager_client):
    assert manager_client.get(reverse("comms:stakeholder_edit", args=[999])).status_code == 404


# --- Pages: import -------------------------------------------------------------------------


def test_import_page__get__shows_the_example(manager_client):
    response = manager_client.get(reverse("comms:stakeholder_import"))
    assert response.status_code == 200
    assert "email,name,organisation,audiences" in response.content.decode()
    example = manager_client.get(reverse("comms:stakeholder_import_example"))
    assert example["Content-Type"].startswith("text/csv")
    assert example.content.decode() == services.EXAMPLE_CSV


def test_import_page__the_example_itself__imports(manager_client):
    data = {"file": csv_file(services.EXAMPLE_CSV), "create_missing_audiences": "on"}
    response = manager_client.post(reverse("comms:stakeholder_import"), data)
    assert response.status_code == 200
    assert Stakeholder.objects.count() == 3


def test_import_page__mixed_file__report_lists_counts_and_bad_rows(manager_client, customers):
    StakeholderFactory(email="ben@example.com", name="Ben")
    text = (
        "email,name,audiences\n"
        "ana@example.com,Ana,Customers\n"
        "BEN@example.com,Ben O,\n"
        "broken,X,\n"
        "zed@example.com,Z,Nope\n"
    )
    data = {"file": csv_file(text), "audiences": [customers.pk]}
    response = manager_client.post(reverse("comms:stakeholder_import"), data)
    assert response.status_code == 200
    html = response.content.decode()
    assert '<strong id="report-created">1</strong>' in html
    assert '<strong id="report-updated">1</strong>' in html
    assert '<strong id="report-bad">2</strong>' in html
    assert 'id="bad-row-4"' in html and "Not a valid email address" in html
    assert 'id="bad-row-5"' in html and "Unknown audience “Nope”" in html
    assert memberships_of("ben@example.com") == {"Customers"}


def test_import_page__unreadable_file__422_with_the_message_and_nothing_imported(manager_client, customers):
    data = {"file": csv_file(PNG, name="photo.csv"), "audiences": [customers.pk]}
    response = manager_client.post(reverse("comms:stakeholder_import"), data)
    assert response.status_code == 422
    html = response.content.decode()
    assert "This is not a CSV text file" in html
    assert 'id="import-report"' not in html
    assert not Stakeholder.objects.exists()


def test_import_page__no_file__422(manager_client):
    response = manager_client.post(reverse("comms:stakeholder_import"), {})
    assert response.status_code == 422
    assert "Choose a CSV file to import." in response.content.decode()


# --- Query counts ------------------------------------------------------------------------------


def _audiences_with_members(n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        audience = AudienceFactory(name=f"Group {i:03d}")
        StakeholderFactory.create_batch(2, audiences=[audience])


def test_audience_list__queries__fixed(manager_client, django_assert_num_queries):
    # session, user, roles, audiences with their counts
    _audiences_with_members(2)
    with django_assert_num_queries(4):
        assert manager_client.get(reverse("comms:audience_list")).status_code == 200
    _audiences_with_members(20, start=2)
    with django_assert_num_queries(4):
        response = manager_client.get(reverse("comms:audience_list"))
    assert response.content.decode().count('class="release-row"') == 22


def test_stakeholder_list__queries__fixed(manager_client, django_assert_num_queries):
    # session, user, roles, count, page, memberships with audiences, audiences for the filter
    _audiences_with_members(1)
    with django_assert_num_queries(7):
        assert manager_client.get(reverse("comms:stakeholder_list")).status_code == 200
    _audiences_with_members(30, start=1)
    with django_assert_num_queries(7):
        response = manager_client.get(reverse("comms:stakeholder_list"))
    assert response.content.decode().count('class="release-row"') == 50


def test_stakeholder_list__filtered_htmx__queries_fixed(manager_client, django_assert_num_queries):
    _audiences_with_members(3)
    audience = Audience.objects.first()
    params, headers = {"audience": audience.pk, "q": "example"}, {"HX-Request": "true"}
    with django_assert_num_queries(6):
        manager_client.get(reverse("comms:stakeholder_list"), params, headers=headers)
    StakeholderFactory.create_batch(30, audiences=[audience])
    with django_assert_num_queries(6):
        manager_client.get(reverse("comms:stakeholder_list"), params, headers=headers)
