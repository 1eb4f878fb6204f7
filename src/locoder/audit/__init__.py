from locoder.audit.log import SCHEMA_VERSION, AuditLog, read_audit_log

__all__ = ["SCHEMA_VERSION", "AuditLog", "read_audit_log"]
