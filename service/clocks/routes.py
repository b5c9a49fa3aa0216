from ..auth.guard import current_principal
from ..blueprint import Blueprint
from ..pagination import page_schema
from . import calendars
from .schemas import CalendarIn, CalendarOut, CalendarQuery, CalendarUpdate, TargetsIn, TargetsOut

blp = Blueprint("service_clocks", __name__, url_prefix="/api/v1",
                description="Business calendars and the service targets counted on them (first response, resolution)")

CalendarPage = page_schema(CalendarOut, "CalendarPage")


@blp.route("/calendars", methods=["GET"])
@blp.requires("service_lines.read")
@blp.arguments(CalendarQuery, location="query")
@blp.response(200, CalendarPage)
def list_calendars(args):
    """List business calendars"""
    return calendars.list_calendars(**args)


@blp.route("/calendars", methods=["POST"])
@blp.requires("service_lines.manage")
@blp.arguments(CalendarIn)
@blp.response(201, CalendarOut)
def create_calendar(data):
    """Create a business calendar: opening hours per weekday, public holidays, extra closed days"""
    return calendars.create_calendar(actor=current_principal(), data=data)


@blp.route("/calendars/<int:calendar_id>", methods=["GET"])
@blp.requires("service_lines.read")
@blp.response(200, CalendarOut)
def get_calendar(calendar_id):
    """Get a business calendar"""
    return calendars.get_calendar(calendar_id)


@blp.route("/calendars/<int:calendar_id>", methods=["PATCH"])
@blp.requires("service_lines.manage")
@blp.arguments(CalendarUpdate(partial=True))
@blp.response(200, CalendarOut)
def update_calendar(data, calendar_id):
    """Change a calendar; the running service clocks of its lines are recomputed"""
    return calendars.update_calendar(actor=current_principal(), calendar_id=calendar_id, data=data)


@blp.route("/service-lines/<int:line_id>/targets", methods=["GET"])
@blp.requires("service_lines.read")
@blp.response(200, TargetsOut)
def get_targets(line_id):
    """A line's calendar and its first response and resolution targets per channel"""
    return calendars.get_targets(line_id)


@blp.route("/service-lines/<int:line_id>/targets", methods=["PUT"])
@blp.requires("service_lines.manage")
@blp.arguments(TargetsIn)
@blp.response(200, TargetsOut)
def set_targets(data, line_id):
    """Replace a line's calendar and targets; new targets apply to cases created from now on"""
    return calendars.set_targets(actor=current_principal(), line_id=line_id, data=data)
