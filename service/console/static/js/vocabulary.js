// Values the API uses, as the console offers them in filters and charts.

export const CHANNELS = ["email", "sms", "chat", "phone", "webform", "internal"];
export const CASE_LANGUAGES = ["fi", "sv", "en"];
export const REPLY_CHANNELS = ["sms", "email"];
export const DISCLOSABLE = ["name", "email", "phone", "address", "summary"];
// The roles a case can be assigned to (the API's CASE_WORKERS).
export const CASE_WORKERS = ["admin", "adviser", "supervisor"];
