from needlechart.reference.cli import COMMANDS
from needlechart.reference.management.base import KnowledgeCommand


class Command(KnowledgeCommand):
    knowledge = COMMANDS["referral"]
