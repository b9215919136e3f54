"""ORM models. The schema changes only through Alembic migrations (``migrations/``)."""

from core.models.accounts import (  # noqa: F401
    ApiToken,
    LoginFailure,
    User,
)
from core.models.base import (  # noqa: F401
    ACTIVE_CHUNK_STATUSES,
    PREPARED_STATUSES,
    TERMINAL_SUBMISSION_STATUSES,
    Base,
    ChunkKind,
    ChunkStatus,
    CompetitionStatus,
    FailureReason,
    PrivateStage,
    Role,
    RunStatus,
    SubmissionStatus,
    UTCDateTime,
    utcnow,
)
from core.models.competitions import (  # noqa: F401
    AuditEntry,
    Competition,
    CompetitionBudget,
    CompetitionOrganizer,
    Dataset,
    Disqualification,
    RulesAcceptance,
    Team,
    TeamInvite,
    TeamMember,
)
from core.models.submissions import (  # noqa: F401
    Run,
    Submission,
    WorkChunk,
    WorkerHeartbeat,
)
