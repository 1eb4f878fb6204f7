from locoder.agent.loop import Agent, AgentConfig, RunResult

__all__ = ["Agent", "AgentConfig", "RunResult"]
