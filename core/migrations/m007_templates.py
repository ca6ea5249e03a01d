"""Templates keep what a WhatsApp registration needs; a message keeps the values its template went with.

Registered templates get a category, an approval status, the parameter
format and the header, footer and buttons of the Cloud API's shape, and a
Twilio Content SID; every template gets sample values for its preview. The
existing templates stay as they were: those registered were being sent as
approved templates, so they are marked approved. ``messages.template_values``
holds the variables a template message was filled with (JSON), which the
provider receives as the template's parameters.
"""

VERSION = 7
NAME = "templates"

SQL = """
ALTER TABLE templates ADD COLUMN category VARCHAR;
ALTER TABLE templates ADD COLUMN approval_status VARCHAR;
ALTER TABLE templates ADD COLUMN parameter_format VARCHAR NOT NULL DEFAULT 'positional';
ALTER TABLE templates ADD COLUMN header_format VARCHAR NOT NULL DEFAULT 'none';
ALTER TABLE templates ADD COLUMN header_text VARCHAR;
ALTER TABLE templates ADD COLUMN header_link VARCHAR;
ALTER TABLE templates ADD COLUMN footer VARCHAR;
ALTER TABLE templates ADD COLUMN buttons VARCHAR;
ALTER TABLE templates ADD COLUMN content_sid VARCHAR;
ALTER TABLE templates ADD COLUMN samples VARCHAR;
ALTER TABLE templates ADD COLUMN updated_at TIMESTAMP;
ALTER TABLE templates ADD COLUMN updated_by INTEGER;
ALTER TABLE messages ADD COLUMN template_values VARCHAR;
UPDATE templates SET approval_status = 'approved' WHERE registered;
UPDATE templates SET updated_at = created_at, updated_by = created_by
"""
