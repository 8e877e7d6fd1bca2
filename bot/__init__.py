"""newsdesk's Discord bot. Importing this package does not import discord: ``bot.main`` loads it
only when ``newsdesk run`` starts the bot."""
