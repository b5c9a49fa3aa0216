from flask import current_app

from ..blueprint import Blueprint
from ..auth.guard import current_principal
from ..pagination import page_schema
from . import linking, logic
from .schemas import (CustomerDetailOut, CustomerOut, CustomerQuery, CustomerUpdate, LinkCandidateList, LinkIn,
                      RestrictionIn)

blp = Blueprint("customers", __name__, url_prefix="/api/v1/customers",
                description="Customers: the people who contact the service")

CustomerPage = page_schema(CustomerOut, "CustomerPage")


@blp.route("", methods=["GET"])
@blp.requires("customers.read")
@blp.arguments(CustomerQuery, location="query")
@blp.response(200, CustomerPage)
def list_customers(args):
    """Search customers by phone (any format), email or name"""
    return logic.search_customers(actor=current_principal(),
                                  region=current_app.config["DEFAULT_PHONE_REGION"], **args)


def _with_cases(customer):
    customer.cases = logic.customer_cases(actor=current_principal(), customer=customer)
    customer.linked = linking.linked_records(actor=current_principal(), customer=customer)
    return customer


@blp.route("/<int:customer_id>", methods=["GET"])
@blp.requires("customers.read")
@blp.response(200, CustomerDetailOut)
def get_customer(customer_id):
    """A customer with their cases"""
    return _with_cases(logic.get_customer(actor=current_principal(), customer_id=customer_id))


@blp.route("/<int:customer_id>", methods=["PATCH"])
@blp.requires("customers.write")
@blp.arguments(CustomerUpdate(partial=True))
@blp.response(200, CustomerDetailOut)
def update_customer(data, customer_id):
    """Correct a customer's details (old values are kept in the audit log)"""
    return _with_cases(logic.update_customer(actor=current_principal(), customer_id=customer_id, data=data))


@blp.route("/<int:customer_id>/restriction", methods=["POST"])
@blp.requires("privacy.manage")
@blp.arguments(RestrictionIn)
@blp.response(200, CustomerOut)
def restrict_processing(data, customer_id):
    """Restrict processing: no messages, calls, forwarding or feedback; no edits but the correction"""
    return logic.restrict(actor=current_principal(), customer_id=customer_id, **data)


@blp.route("/<int:customer_id>/restriction", methods=["DELETE"])
@blp.requires("privacy.manage")
@blp.response(200, CustomerOut)
def lift_restriction(customer_id):
    """Lift the restriction of processing"""
    return logic.lift_restriction(actor=current_principal(), customer_id=customer_id)


@blp.route("/<int:customer_id>/link", methods=["POST"])
@blp.requires("customers.link")
@blp.arguments(LinkIn)
@blp.response(200, CustomerDetailOut)
def link_customer(data, customer_id):
    """Confirm that this record and another are one person: its phone and email become theirs"""
    return _with_cases(linking.link(actor=current_principal(), customer_id=customer_id,
                                    into_customer_id=data["into_customer_id"]))


@blp.route("/<int:customer_id>/link", methods=["DELETE"])
@blp.requires("customers.link")
@blp.response(200, CustomerDetailOut)
def unlink_customer(customer_id):
    """Undo a link: the record stands alone again (a restriction it got stays)"""
    return _with_cases(linking.unlink(actor=current_principal(), customer_id=customer_id))


@blp.route("/<int:customer_id>/link-candidates", methods=["GET"])
@blp.requires("customers.link")
@blp.response(200, LinkCandidateList)
def link_candidates(customer_id):
    """Records that may be the same person, and why; never linked without an official"""
    return {"items": linking.candidates(actor=current_principal(), customer_id=customer_id)}
