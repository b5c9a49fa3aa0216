from flask import current_app

from ..auth.guard import current_principal
from ..blueprint import Blueprint
from ..outbox.delivery import enqueue_delivery
from ..pagination import page_schema
from . import logic
from .schemas import (AuthorityIn, AuthorityOut, AuthorityQuery, AuthorityUpdate, DisclosureIn, DisclosureList, DisclosureOut,
                      ForwardIn)

authorities_blp = Blueprint("authorities", __name__, url_prefix="/api/v1/authorities",
                            description="Authorities that matters are forwarded to")
forwarding_blp = Blueprint("forwarding", __name__, url_prefix="/api/v1/cases",
                           description="Forwarding to another authority, and the disclosure log")

AuthorityPage = page_schema(AuthorityOut, "AuthorityPage")


@authorities_blp.route("", methods=["GET"])
@authorities_blp.requires("cases.read")
@authorities_blp.arguments(AuthorityQuery, location="query")
@authorities_blp.response(200, AuthorityPage)
def list_authorities(args):
    """Authorities, by name"""
    return logic.list_authorities(**args)


@authorities_blp.route("", methods=["POST"])
@authorities_blp.requires("authorities.manage")
@authorities_blp.arguments(AuthorityIn)
@authorities_blp.response(201, AuthorityOut)
def create_authority(data):
    """Add an authority"""
    return logic.save_authority(actor=current_principal(), data=data)


@authorities_blp.route("/<int:authority_id>", methods=["GET"])
@authorities_blp.requires("cases.read")
@authorities_blp.response(200, AuthorityOut)
def get_authority(authority_id):
    """An authority"""
    return logic.get_authority(authority_id)


@authorities_blp.route("/<int:authority_id>", methods=["PATCH"])
@authorities_blp.requires("authorities.manage")
@authorities_blp.arguments(AuthorityUpdate(partial=True))
@authorities_blp.response(200, AuthorityOut)
def update_authority(data, authority_id):
    """Change an authority, or set it inactive"""
    return logic.save_authority(actor=current_principal(), data=data, authority_id=authority_id)


@forwarding_blp.route("/<int:case_id>/forward", methods=["POST"])
@forwarding_blp.requires("cases.write")
@forwarding_blp.arguments(ForwardIn)
@forwarding_blp.response(201, DisclosureOut)
def forward_case(data, case_id):
    """Forward the case to another authority with exactly the chosen fields; logged as a disclosure"""
    disclosure, outbox = logic.forward(actor=current_principal(), case_id=case_id,
                                       mail_domain=current_app.config["MAIL_DOMAIN"], **data)
    enqueue_delivery(outbox.id)
    return disclosure


@forwarding_blp.route("/<int:case_id>/disclosures", methods=["POST"])
@forwarding_blp.requires("cases.write")
@forwarding_blp.arguments(DisclosureIn)
@forwarding_blp.response(201, DisclosureOut)
def record_disclosure(data, case_id):
    """Record a disclosure made outside this service (e.g. to the police by law)"""
    return logic.record_disclosure(actor=current_principal(), case_id=case_id, **data)


@forwarding_blp.route("/<int:case_id>/disclosures", methods=["GET"])
@forwarding_blp.requires("cases.read")
@forwarding_blp.response(200, DisclosureList)
def list_disclosures(case_id):
    """Every disclosure of this case's personal data"""
    return {"items": logic.list_disclosures(actor=current_principal(), case_id=case_id)}
